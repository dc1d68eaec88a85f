//! Plain tests that change nothing and whose output is the same at every
//! run (no panic message, which names a thread id), so that what
//! `isolated-test wrap` prints for them can be compared byte for byte with
//! what the binary prints run directly (tests/tests/wrap.rs). The failing
//! ones fail without a panic (it would print a thread id): each is a
//! `#[should_panic]` test that does not panic, and its output ends with
//! libtest's note, which has no newline.

#[test]
fn passes() {}

/// libtest's status line joins the unended output: it passes all the same.
#[test]
fn passes_without_a_newline() {
    print!("no newline, passing 5e2a");
}

#[test]
#[ignore = "needs a GPU"]
fn ignored_with_a_reason() {}

#[test]
#[ignore]
fn ignored_without_one() {}

/// Fails (it does not panic) after a line of output.
#[test]
#[should_panic]
fn fails() {
    println!("failed 7b3c");
}

/// Fails (it does not panic) after output without a newline.
#[test]
#[should_panic]
fn fails_without_a_newline() {
    print!("no newline, failing 4c1d");
}
