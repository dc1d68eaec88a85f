//! The library as a user's crate gets it by default (no features): no
//! command-line parser and no archive code among its dependencies, tests
//! that compile, and an archive root that does not compile and names the
//! feature to enable.
//!
//! Each test writes a scratch crate that depends on this package by path and
//! runs cargo on it offline (with this workspace's `Cargo.lock`, so the same
//! versions, already downloaded), into a target directory kept below
//! cargo's `CARGO_TARGET_TMPDIR`: only the first run compiles the
//! dependencies.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// A crate depending on isolated-test with its default features, with one
/// test target per `(name, source)`.
fn user_crate(tests: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("isolated-test-features-").tempdir().unwrap();
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = format!(
        "[package]\nname = \"user\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [dependencies]\nisolated-test = {{ path = {:?} }}\n\n\
         # Not a member of any workspace above the temporary directory.\n[workspace]\n",
        harness.display().to_string()
    );
    fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    fs::copy(harness.join("../Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    fs::create_dir_all(dir.path().join("src")).unwrap();
    fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    fs::create_dir_all(dir.path().join("tests")).unwrap();
    for (name, source) in tests {
        fs::write(dir.path().join(format!("tests/{name}.rs")), source).unwrap();
    }
    dir
}

/// `cargo ARGS` in `krate`, offline, into the kept target directory.
fn cargo(krate: &Path, args: &[&str]) -> Output {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("features-user-crate");
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .arg("--offline")
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_default_build_has_no_command_line_parser_and_no_archive_code() {
    let krate = user_crate(&[]);
    let out = cargo(krate.path(), &["tree", "-e", "normal", "--prefix", "none", "--format", "{p}"]);
    assert!(out.status.success(), "cargo tree failed:\n{}", stderr(&out));
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(names.contains(&"isolated-test"), "{tree}");
    for name in ["clap", "tar", "flate2", "sha2"] {
        assert!(!names.contains(&name), "`{name}` is in the default build:\n{tree}");
    }
}

#[test]
fn an_archive_root_without_the_tar_feature_is_a_compile_error_naming_it() {
    let krate = user_crate(&[
        ("plain", "#[isolated_test::isolated_test(rootfs = \"busybox\", timeout = \"5s\")]\nfn plain() {}\n"),
        ("archive", "#[isolated_test::isolated_test(tar = \"images/root.tar.gz\")]\nfn in_an_image() {}\n"),
    ]);
    let plain = cargo(krate.path(), &["check", "--test", "plain"]);
    assert!(plain.status.success(), "a test without an archive root must compile:\n{}", stderr(&plain));
    let archive = cargo(krate.path(), &["check", "--test", "archive"]);
    let text = stderr(&archive);
    assert!(!archive.status.success(), "{text}");
    assert!(
        text.contains(
            "error[E0277]: an image archive root (`tar = \"...\"`, `Rootfs::tar`) needs the `tar` feature of \
             isolated-test"
        ),
        "{text}"
    );
    assert!(text.contains("--> tests/archive.rs:1:38"), "the error points at the archive path:\n{text}");
    assert!(text.contains(r#"features = ["tar"]"#), "{text}");
}
