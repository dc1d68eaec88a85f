//! Plain `#[test]`s that pollute the host: each would change the machine
//! (or trip over another test) without a sandbox of its own. Every marker
//! string is unique, so tests/tests/wrap.rs can find it in the output or in
//! the host's process table.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use isolated_test_wrap_fixture::refuse_to_run_unsandboxed;

fn sh(script: &str) {
    let status = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(status.success(), "`{script}` failed: {status}");
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn renames_the_host() {
    refuse_to_run_unsandboxed();
    sh("hostname wrapped-fixture-4d1a");
    let name = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    assert_eq!(name.trim(), "wrapped-fixture-4d1a");
}

#[test]
fn rewrites_etc_hosts() {
    refuse_to_run_unsandboxed();
    std::fs::write("/etc/hosts", "10.9.9.9 wrapped-fixture-hosts\n").unwrap();
    assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), "10.9.9.9 wrapped-fixture-hosts\n");
}

/// Holds port 8080 for 3 s and prints when: two at once collide on one host.
fn hold_port_8080(tag: &str) {
    refuse_to_run_unsandboxed();
    let listener = TcpListener::bind("127.0.0.1:8080").unwrap();
    let from = now_ms();
    std::thread::sleep(Duration::from_secs(3));
    println!("port 8080 {tag}: held from {from} to {} ms", now_ms());
    drop(listener);
}

#[test]
fn binds_port_8080_a() {
    hold_port_8080("a");
}

#[test]
fn binds_port_8080_b() {
    hold_port_8080("b");
}

#[test]
fn leaves_a_daemon() {
    refuse_to_run_unsandboxed();
    sh("setsid sleep 1000.7107 > /dev/null 2>&1 &");
    println!("left a daemon behind");
}

#[test]
fn panics() {
    refuse_to_run_unsandboxed();
    panic!("deliberate panic in a plain test 6c2d");
}

#[test]
#[ignore = "panics when it runs: --ignored must really run it"]
fn ignored_panics() {
    refuse_to_run_unsandboxed();
    panic!("ignored plain test ran 8e4f");
}

#[test]
#[ignore = "hangs: run with a short ISOLATED_TEST_TIMEOUT, or stopped with a signal"]
fn hangs() {
    refuse_to_run_unsandboxed();
    sh("setsid sleep 1000.7108 > /dev/null 2>&1 &");
    println!("hanging 5f0b");
    Command::new("sleep").arg("1000.7109").status().unwrap();
}

/// A `#[should_panic]` test that passes: it changes `/etc`, then panics as
/// it expects to. libtest names its mode: `test NAME - should panic ... ok`.
#[test]
#[should_panic(expected = "expected panic 3a7e")]
fn panics_as_it_should() {
    refuse_to_run_unsandboxed();
    std::fs::write("/etc/isolated-test-wrap-should-panic", "x").unwrap();
    println!("about to panic 3a7e");
    panic!("expected panic 3a7e");
}

/// A `#[should_panic]` test that fails: it never panics, and libtest says
/// so (`note: test did not panic as expected`).
#[test]
#[should_panic(expected = "a panic that never comes")]
#[ignore = "fails (it does not panic): --ignored must report it as libtest does"]
fn should_panic_but_does_not() {
    refuse_to_run_unsandboxed();
    println!("did not panic 9c3b");
}
