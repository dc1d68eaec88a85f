//! The system calls the sandbox refuses: new cgroup namespaces, and the
//! kernel keyring.
//!
//! Root of any user namespace may create a cgroup namespace, and then mount
//! the cgroup filesystems rooted at its own cgroup. Files there belong to
//! host root; with the identity map, root inside passes that owner check,
//! so it could raise its own limits or, in a v1 hierarchy where it sits in
//! the root cgroup, change host-wide knobs (`memory.swappiness` there is
//! `vm.swappiness`) and create cgroups that outlive it. The sandbox's own
//! cgroup namespace belongs to the outer user namespace, so mounting from
//! it is refused; this filter keeps the body from making one of its own:
//! `unshare` and `clone` with `CLONE_NEWCGROUP` fail with EPERM, and
//! `clone3` (whose flags a filter cannot read) with ENOSYS, which makes the
//! C library and Rust's std fall back to `clone`.
//!
//! The kernel keyring is not namespaced either: key serials are global and
//! its permission check compares uids, so root inside, the owner of every
//! key the caller made (host root's with the identity map, the caller's
//! rootless), could describe them by serial and read those whose owner may
//! read them; `request_key` runs a helper program on the host. As in
//! Docker's default profile, `add_key`, `keyctl` and `request_key` fail,
//! here with ENOSYS, as on a kernel built without keys (libraries such as
//! Kerberos then fall back to files).
//!
//! The filter is installed without `no_new_privs` (root of the nested user
//! namespace has CAP_SYS_ADMIN there, which the kernel accepts instead), so
//! setuid programs keep working inside.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

fn filter(rules: BTreeMap<i64, Vec<SeccompRule>>, on_match: SeccompAction) -> io::Result<BpfProgram> {
    let arch: TargetArch = std::env::consts::ARCH.try_into().map_err(|e| io::Error::other(format!("{e:?}")))?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, on_match, arch)
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| io::Error::other(format!("{e:?}")))
}

/// The filters, compiled: first the one answering ENOSYS (`clone3`, the
/// keyring), then the one for `unshare` and `clone`.
fn programs() -> io::Result<[BpfProgram; 2]> {
    let newcgroup = libc::CLONE_NEWCGROUP as u64;
    let flag = |arg| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(newcgroup), newcgroup)
            .and_then(|c| SeccompRule::new(vec![c]))
            .map_err(|e| io::Error::other(format!("{e:?}")))
    };
    let enosys = [libc::SYS_clone3, libc::SYS_add_key, libc::SYS_keyctl, libc::SYS_request_key];
    let clone3 = filter(
        enosys.into_iter().flat_map(abis).map(|nr| (nr, vec![])).collect(),
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    let mut cgroupns = BTreeMap::new();
    for nr in [libc::SYS_unshare, libc::SYS_clone].into_iter().flat_map(abis) {
        cgroupns.insert(nr, vec![flag(0)?]);
    }
    let cgroupns = filter(cgroupns, SeccompAction::Errno(libc::EPERM as u32))?;
    Ok([clone3, cgroupns])
}

/// The numbers of the system call `nr` in each ABI of this architecture
/// the filter sees: on x86_64 also its x32 number (with bit 30 set), which
/// reaches the same kernel function on a kernel built with x32 support.
/// (The i386 ABI has another audit architecture, which the filter does not
/// match: its system calls kill the process.)
fn abis(nr: i64) -> Vec<i64> {
    if cfg!(target_arch = "x86_64") { vec![nr, nr | X32_SYSCALL_BIT] } else { vec![nr] }
}

/// `__X32_SYSCALL_BIT`.
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// Installs the filters on the calling thread (and so on every thread and
/// process it starts afterwards).
///
/// # Errors
/// Compiling the filters, or the kernel refusing them (EACCES without
/// CAP_SYS_ADMIN in the current user namespace, EINVAL without seccomp).
pub(crate) fn install() -> io::Result<()> {
    for program in programs()? {
        let fprog = libc::sock_fprog {
            len: u16::try_from(program.len()).map_err(|_| io::Error::other("seccomp filter too long"))?,
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `fprog` points at `program`, a valid BPF program that
        // outlives the call (the kernel copies it). Without
        // PR_SET_NO_NEW_PRIVS the kernel requires CAP_SYS_ADMIN in the
        // current user namespace, which the caller has.
        let ret = unsafe {
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog, 0, 0)
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile_for_this_machine() {
        let [clone3, cgroupns] = programs().unwrap();
        assert!(!clone3.is_empty() && !cgroupns.is_empty());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_x32_numbers_are_filtered_too() {
        // Each compared number appears in the program as a jump's constant.
        let [clone3, cgroupns] = programs().unwrap();
        let compares = |program: &BpfProgram, nr: i64| program.iter().any(|insn| i64::from(insn.k) == nr);
        for nr in [libc::SYS_clone3, libc::SYS_keyctl, libc::SYS_add_key, libc::SYS_request_key] {
            assert!(compares(&clone3, nr) && compares(&clone3, nr | X32_SYSCALL_BIT), "{nr}");
        }
        for nr in [libc::SYS_unshare, libc::SYS_clone] {
            assert!(compares(&cgroupns, nr) && compares(&cgroupns, nr | X32_SYSCALL_BIT), "{nr}");
        }
    }
}
