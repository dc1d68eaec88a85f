//! What the parent keeps of a test's output when it is held rather than
//! passed on: libtest's capture (the attribute without `--nocapture`) and
//! `wrap`'s, which show it with a failure. A sandbox may write without end
//! (a log that never stops): held whole, its output would grow the test
//! process past any limit of the sandbox's, several times over (libtest
//! copies what it captured). [`Kept`] passes on the first [`HEAD`] bytes,
//! keeps the last [`TAIL`], and puts a line saying how much was left out
//! between them.

use std::collections::VecDeque;

/// How much of the start of a held output is kept: how the test began (its
/// setup, the first error, often the cause). 2 MiB is about 25,000 lines
/// of 80 columns, more than anyone reads, while libtest, which copies a
/// failed test's output and keeps it until the summary of the run, holds
/// about twice [`HEAD`] + [`TAIL`] per failed test.
pub(crate) const HEAD: usize = 2 << 20;

/// How much of the end of a held output is kept: how the test ended (the
/// lines before its panic or its timeout). As [`HEAD`].
pub(crate) const TAIL: usize = 2 << 20;

/// Whether libtest captures the output of this process's tests, as libtest
/// decides it: not with `--nocapture` (or `--no-capture`) among the
/// arguments, nor with `RUST_TEST_NOCAPTURE` set to anything but `0`.
pub(crate) fn libtest_captures() -> bool {
    let flag = std::env::args_os().any(|arg| arg == "--nocapture" || arg == "--no-capture");
    !(flag || nocapture_by_variable())
}

/// Whether `RUST_TEST_NOCAPTURE` asks libtest not to capture: set to
/// anything but `0`, as libtest reads it.
pub(crate) fn nocapture_by_variable() -> bool {
    std::env::var("RUST_TEST_NOCAPTURE").is_ok_and(|value| value != "0")
}

/// The length of the longest start of `bytes` that does not end inside a
/// UTF-8 sequence: a cut there never splits a character in two (bytes
/// that are no UTF-8 are cut anywhere).
pub(crate) fn whole_characters(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // The last sequence starts at most three bytes before the last byte.
    for back in 1..=len.min(4) {
        let byte = bytes[len - back];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte
        }
        let needs = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if needs > back { len - back } else { len };
    }
    len
}

/// A held output, bounded: its first [`HEAD`] bytes are passed on as they
/// come, its last [`TAIL`] kept until [`Kept::finish`], what lies between
/// counted and dropped.
pub(crate) struct Kept {
    /// What the head may still take.
    head_left: usize,
    /// Whether the bytes passed on so far end a line.
    at_line_start: bool,
    /// The last bytes after the head, at most [`TAIL`].
    tail: VecDeque<u8>,
    /// How many bytes were dropped between the head and the tail.
    left_out: u64,
}

impl Default for Kept {
    fn default() -> Self {
        Self { head_left: HEAD, at_line_start: true, tail: VecDeque::new(), left_out: 0 }
    }
}

impl Kept {
    /// Takes `bytes`, the next of the output: passes them to `emit` while
    /// the head lasts, keeps the rest as the tail (cut between characters).
    pub(crate) fn push(&mut self, bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        let mut rest = bytes;
        if self.head_left > 0 {
            let n = if rest.len() <= self.head_left { rest.len() } else { whole_characters(&rest[..self.head_left]) };
            let (head, after) = rest.split_at(n);
            if let Some(last) = head.last() {
                self.at_line_start = *last == b'\n';
                emit(head);
            }
            // A character cut short at the end of the head goes to the tail,
            // and the head is done.
            self.head_left = if after.is_empty() { self.head_left - n } else { 0 };
            rest = after;
        }
        if rest.len() >= TAIL {
            self.left_out += (self.tail.len() + rest.len() - TAIL) as u64;
            self.tail.clear();
            self.tail.extend(&rest[rest.len() - TAIL..]);
        } else {
            let over = (self.tail.len() + rest.len()).saturating_sub(TAIL);
            self.tail.drain(..over);
            self.left_out += over as u64;
            self.tail.extend(rest);
        }
    }

    /// Passes on the tail, after a line that says what was left out before
    /// it, if anything was.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if self.left_out > 0 {
            // The tail starts with a whole character.
            let cut = self.tail.iter().take(3).take_while(|b| **b & 0xC0 == 0x80).count();
            self.tail.drain(..cut);
            self.left_out += cut as u64;
            emit(self.marker().as_bytes());
        }
        emit(self.tail.make_contiguous());
        self.tail.clear();
    }

    /// The line in place of what was left out.
    fn marker(&self) -> String {
        use crate::sandbox::cgroup::bytes;
        let newline = if self.at_line_start { "" } else { "\n" };
        format!(
            "{newline}[isolated-test: {} ({} bytes) of this test's output left out here; the first {} and the last {} \
             are kept. To see all of it, run the test with --nocapture]\n",
            bytes(self.left_out),
            self.left_out,
            bytes(HEAD as u64),
            bytes(TAIL as u64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `Kept` makes of `chunks`.
    fn kept(chunks: &[&[u8]]) -> Vec<u8> {
        let (mut kept, mut out) = (Kept::default(), Vec::new());
        for chunk in chunks {
            kept.push(chunk, &mut |b| out.extend_from_slice(b));
        }
        kept.finish(&mut |b| out.extend_from_slice(b));
        out
    }

    #[test]
    fn output_within_head_and_tail_is_kept_whole() {
        let big = vec![b'x'; HEAD + TAIL - 1];
        assert_eq!(kept(&[&big[..10], &big[10..], b"\n"]), [&big[..], b"\n"].concat());
        assert_eq!(kept(&[b"a\n", b"b"]), b"a\nb");
    }

    #[test]
    fn beyond_them_the_middle_is_left_out_with_a_line_that_says_so() {
        let mut chunks: Vec<Vec<u8>> = vec![b"start\n".to_vec()];
        chunks.extend((0..10).map(|_| vec![b'm'; 1 << 20]));
        chunks.push(b"\nend\n".to_vec());
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let out = kept(&refs);
        let written: usize = refs.iter().map(|c| c.len()).sum();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("start\n") && text.ends_with("m\nend\n"));
        let (head, rest) = text.split_once("\n[isolated-test: ").unwrap();
        let (marker, tail) = rest.split_once('\n').unwrap();
        assert_eq!((head.len(), tail.len()), (HEAD, TAIL), "{marker}");
        let left_out = written - HEAD - TAIL;
        assert!(marker.starts_with(&format!("6.0 MiB ({left_out} bytes) of this test's output left out here")));
        assert!(marker.ends_with("run the test with --nocapture]"), "{marker}");
    }

    #[test]
    fn neither_cut_splits_a_character() {
        // 'é' is two bytes: one sits across the end of the head, another
        // across the start of the tail.
        let text = format!("a{}b", "é".repeat(HEAD + TAIL));
        let out = kept(&[&text.as_bytes()[..HEAD + 1], &text.as_bytes()[HEAD + 1..]]);
        let out = String::from_utf8(out).expect("whole characters on both sides");
        assert!(out.contains("\n[isolated-test: "));
    }

    #[test]
    fn whole_characters_stop_before_a_cut_sequence() {
        let text = "aé€😀".as_bytes();
        for cut in 0..=text.len() {
            let n = whole_characters(&text[..cut]);
            assert!(std::str::from_utf8(&text[..n]).is_ok() && cut - n < 4, "cut at {cut}: {n}");
        }
        assert_eq!(whole_characters(b"\xff\xfe"), 2);
        assert_eq!(whole_characters(b"ab\x80\x80\x80\x80"), 6);
    }
}
