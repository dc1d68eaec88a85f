//! What `isolated-test run` sends its helper when the command has a pty:
//! the keys typed at the caller's terminal and the caller's window size,
//! as frames on the one pipe that is the helper's standard input (as ssh
//! carries `window-change` in the session's own stream). Only `run` and
//! its helper speak it: the command reads its pty, never this pipe.
//!
//! A frame is a tag byte and its payload:
//! - `d`, a length (u16, big-endian), that many bytes of input;
//! - `w`, rows and columns (u16 each, big-endian).
//!
//! Frames go in order: a resize reaches the pty after the keys typed
//! before it, and waits for them when the command reads no input while
//! more than the pipe and the pty's input queue hold (64 KiB and 4 KiB)
//! is pasted into it.

use std::io::{self, Read, Write};

const INPUT: u8 = b'd';
const WINDOW: u8 = b'w';

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Bytes typed (or pasted) at the caller's terminal.
    Input(Vec<u8>),
    /// The caller's window is now this many rows and columns.
    Window {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

/// Writes `input` as frames, each in one `write`.
///
/// # Errors
/// Writing to `out` failed.
pub(crate) fn write_input(out: &mut impl Write, input: &[u8]) -> io::Result<()> {
    for chunk in input.chunks(usize::from(u16::MAX)) {
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX).to_be_bytes();
        let mut frame = Vec::with_capacity(3 + chunk.len());
        frame.push(INPUT);
        frame.extend_from_slice(&len);
        frame.extend_from_slice(chunk);
        out.write_all(&frame)?;
    }
    Ok(())
}

/// Writes a window size frame.
///
/// # Errors
/// Writing to `out` failed.
pub(crate) fn write_window(out: &mut impl Write, rows: u16, cols: u16) -> io::Result<()> {
    let [r0, r1] = rows.to_be_bytes();
    let [c0, c1] = cols.to_be_bytes();
    out.write_all(&[WINDOW, r0, r1, c0, c1])
}

/// Reads the next frame; `None` at the end of the stream.
///
/// # Errors
/// Reading failed, the stream ended inside a frame, or a tag is unknown.
pub(crate) fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut tag = [0u8; 1];
    loop {
        match input.read(&mut tag) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut word = || -> io::Result<u16> {
        let mut bytes = [0u8; 2];
        input.read_exact(&mut bytes)?;
        Ok(u16::from_be_bytes(bytes))
    };
    match tag[0] {
        INPUT => {
            let len = word()?;
            let mut bytes = vec![0u8; usize::from(len)];
            input.read_exact(&mut bytes)?;
            Ok(Some(Frame::Input(bytes)))
        }
        WINDOW => {
            let rows = word()?;
            let cols = word()?;
            Ok(Some(Frame::Window { rows, cols }))
        }
        other => Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown terminal frame tag {other:#04x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames(mut bytes: &[u8]) -> io::Result<Vec<Frame>> {
        let mut frames = Vec::new();
        while let Some(frame) = read_frame(&mut bytes)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn input_and_window_sizes_arrive_in_order() {
        let mut stream = Vec::new();
        write_input(&mut stream, b"ls\r").unwrap();
        write_window(&mut stream, 50, 132).unwrap();
        write_input(&mut stream, b"\x03").unwrap();
        assert_eq!(
            all_frames(&stream).unwrap(),
            [Frame::Input(b"ls\r".to_vec()), Frame::Window { rows: 50, cols: 132 }, Frame::Input(vec![3])]
        );
    }

    #[test]
    fn long_input_is_split_and_every_byte_value_passes() {
        let input: Vec<u8> = (0..=255u8).cycle().take(usize::from(u16::MAX) + 10).collect();
        let mut stream = Vec::new();
        write_input(&mut stream, &input).unwrap();
        let frames = all_frames(&stream).unwrap();
        assert_eq!(frames.len(), 2);
        let joined: Vec<u8> = frames
            .into_iter()
            .flat_map(|f| match f {
                Frame::Input(bytes) => bytes,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(joined, input);
    }

    #[test]
    fn a_cut_frame_or_an_unknown_tag_is_an_error() {
        let mut stream = Vec::new();
        write_window(&mut stream, 1, 2).unwrap();
        assert_eq!(read_frame(&mut &stream[..3]).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(read_frame(&mut &b"x"[..]).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(read_frame(&mut &b""[..]).unwrap(), None);
    }
}
