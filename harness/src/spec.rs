//! What the attribute knows of one test ([`TestSpec`]) and what its body
//! may return ([`TestReturn`]). Below every process role: the parent, PID 2
//! and the configuration read it; it reads nothing of theirs.
#![allow(missing_docs)] // Named by generated code only, through `__private`.

use core::time::Duration;

/// Compile-time description of one isolated test, built by the macro.
#[derive(Debug, Clone, Copy)]
pub struct TestSpec {
    pub fn_name: &'static str,
    pub module_path: &'static str,
    pub manifest_dir: &'static str,
    pub hostname: Option<&'static str>,
    pub timeout: Option<Duration>,
    pub should_panic: bool,
    /// The `expected` text of its `#[should_panic]`, if any.
    pub panic_expected: Option<&'static str>,
    pub privileged: bool,
    pub rootfs: Option<fn() -> crate::Rootfs>,
    pub teardown_verify: bool,
    pub forbid_pollution: Option<&'static [&'static str]>,
    /// `memory = "256M"`, in bytes.
    pub memory: Option<u64>,
    /// `pids = 128`.
    pub pids: Option<u64>,
    /// `cpu = "1.5"`, in thousandths of a core.
    pub cpu_millis: Option<u64>,
}

impl TestSpec {
    pub const fn new(fn_name: &'static str, module_path: &'static str, manifest_dir: &'static str) -> Self {
        Self {
            fn_name,
            module_path,
            manifest_dir,
            hostname: None,
            timeout: None,
            should_panic: false,
            panic_expected: None,
            privileged: false,
            rootfs: None,
            teardown_verify: false,
            forbid_pollution: None,
            memory: None,
            pids: None,
            cpu_millis: None,
        }
    }
    pub const fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory = Some(bytes);
        self
    }
    pub const fn pids(mut self, max: u64) -> Self {
        self.pids = Some(max);
        self
    }
    pub const fn cpu_millis(mut self, millis: u64) -> Self {
        self.cpu_millis = Some(millis);
        self
    }
    pub const fn hostname(mut self, h: &'static str) -> Self {
        self.hostname = Some(h);
        self
    }
    pub const fn timeout_millis(mut self, ms: u64) -> Self {
        self.timeout = Some(Duration::from_millis(ms));
        self
    }
    pub const fn rootfs(mut self, build: fn() -> crate::Rootfs) -> Self {
        self.rootfs = Some(build);
        self
    }
    pub const fn forbid_pollution(mut self, allowed: &'static [&'static str]) -> Self {
        self.forbid_pollution = Some(allowed);
        self
    }
    pub const fn teardown_verify(mut self, yes: bool) -> Self {
        self.teardown_verify = yes;
        self
    }
    pub const fn privileged(mut self, yes: bool) -> Self {
        self.privileged = yes;
        self
    }
    pub const fn should_panic(mut self, yes: bool) -> Self {
        self.should_panic = yes;
        self
    }
    pub const fn panic_expected(mut self, text: &'static str) -> Self {
        self.panic_expected = Some(text);
        self
    }
}

/// What a test body may return: `()` or `Result<(), E: Debug>`, as with
/// a plain `#[test]`.
#[diagnostic::on_unimplemented(
    message = "an isolated test must return `()` or `Result<(), E>` with `E: Debug`, not `{Self}`",
    label = "unsupported return type"
)]
pub trait TestReturn {
    fn into_test_result(self) -> Result<(), String>;
    /// Whether the value is a pass (`()` or `Ok(())`).
    fn passes(&self) -> bool;
}
impl TestReturn for () {
    fn into_test_result(self) -> Result<(), String> {
        Ok(())
    }
    fn passes(&self) -> bool {
        true
    }
}
impl<E: core::fmt::Debug> TestReturn for Result<(), E> {
    fn into_test_result(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:?}"))
    }
    fn passes(&self) -> bool {
        self.is_ok()
    }
}
