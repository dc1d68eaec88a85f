//! The zygote's protocol, on a Unix stream socket (a `socketpair`):
//!
//! - once, zygote to parent: the byte `R` when it is ready to clone (EOF
//!   instead: it could not start), then a little-endian `u32` length and,
//!   as JSON, the kernel's facts (`KernelFacts`) a zygote forked before
//!   `main` read while the test process started, which the parent then
//!   need not read itself (`null` from an executed zygote, which starts
//!   later than the parent's own reading);
//! - parent to zygote, per sandbox: a little-endian `u32` length and a
//!   [`Request`] of that length, with the descriptors PID 1 receives
//!   ([`Request::FDS`], then the cgroup directory when there is one)
//!   attached as `SCM_RIGHTS` to its first bytes;
//! - zygote to parent: [`REPLY_LEN`] bytes, the host PID of PID 1 (a
//!   negative errno when the clone failed) and whether it was born in the
//!   cgroup, with PID 1's pidfd attached on success.
//!
//! One request at a time: the parent holds a lock from request to reply.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sandbox::setup::KernelFacts;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};

/// The byte the zygote sends once it is ready.
pub(crate) const READY: u8 = b'R';
/// The length of a reply.
pub(crate) const REPLY_LEN: usize = 8;
/// The most descriptors one request carries.
const MAX_FDS: usize = Request::FDS + 1;
/// A request longer than this is refused (the setup request alone is
/// limited to what an environment variable can carry).
const MAX_REQUEST: usize = 64 << 20;

/// What PID 2 would have got through `execve`, and how to clone PID 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The `CLONE_NEW*` flags of PID 1.
    pub(crate) flags: u64,
    /// Whether PID 1 makes the nested namespaces.
    pub(crate) nest: bool,
    /// Whether a cgroup directory follows the descriptors (`CLONE_INTO_CGROUP`).
    pub(crate) cgroup: bool,
    /// A sandbox made ahead of its test (see `parent::ahead`): after the
    /// setup, PID 2 reads which test it runs, and its nonce, on its
    /// standard input; `test` is then only the one it was made after.
    pub(crate) ahead: bool,
    /// The libtest name of the test.
    pub(crate) test: String,
    /// The setup request (JSON), which the plain path passes in `ISOLATED_TEST_SETUP`.
    pub(crate) setup: String,
    /// PID 2's working directory.
    pub(crate) cwd: Vec<u8>,
    /// PID 2's whole environment, `KEY=VALUE` each.
    pub(crate) env: Vec<Vec<u8>>,
}

impl Request {
    /// The descriptors of every request, in this order: the sync pipe's
    /// read end, `/dev/null`, the write ends of stderr, the result channel
    /// and stdout, and stdin (see `sys::pid1::Handover`).
    pub(crate) const FDS: usize = 6;

    /// The bytes of this request (without the length in front).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.setup.len() + self.env.iter().map(|e| e.len() + 4).sum::<usize>());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(u8::from(self.nest));
        out.push(u8::from(self.cgroup));
        out.push(u8::from(self.ahead));
        for bytes in [self.test.as_bytes(), self.setup.as_bytes(), &self.cwd] {
            put(&mut out, bytes);
        }
        out.extend_from_slice(&(self.env.len() as u32).to_le_bytes());
        for entry in &self.env {
            put(&mut out, entry);
        }
        out
    }

    /// Reads a request back.
    ///
    /// # Errors
    /// The bytes are not a request (`InvalidData`).
    pub(crate) fn decode(bytes: &[u8]) -> io::Result<Self> {
        let mut r = Reader(bytes);
        let flags = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| invalid("flags"))?);
        let nest = r.take(1)?[0] != 0;
        let cgroup = r.take(1)?[0] != 0;
        let ahead = r.take(1)?[0] != 0;
        let test = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| invalid("test name"))?;
        let setup = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| invalid("setup request"))?;
        let cwd = r.bytes()?.to_vec();
        let count = r.u32()? as usize;
        let mut env = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            env.push(r.bytes()?.to_vec());
        }
        if !r.0.is_empty() {
            return Err(invalid("trailing bytes"));
        }
        Ok(Self { flags, nest, cgroup, ahead, test, setup, cwd, env })
    }

    /// Overwrites what this request carries before it is freed, so that
    /// the next PID 2 forked from the zygote (a copy of its memory) finds
    /// nothing of this test's request in memory the allocator reuses.
    pub(crate) fn wipe(&mut self) {
        fn zero(bytes: &mut [u8]) {
            bytes.fill(0);
            std::hint::black_box(bytes);
        }
        let mut test = std::mem::take(&mut self.test).into_bytes();
        let mut setup = std::mem::take(&mut self.setup).into_bytes();
        zero(&mut test);
        zero(&mut setup);
        zero(&mut self.cwd);
        for entry in &mut self.env {
            zero(entry);
        }
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed zygote request: {what}"))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(invalid("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| invalid("length"))?))
    }

    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Sends `request` with `fds` attached.
///
/// # Errors
/// The socket (the zygote is gone: `EPIPE`, never `SIGPIPE`).
pub(crate) fn send_request(socket: BorrowedFd<'_>, request: &Request, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let body = request.encode();
    let len = u32::try_from(body.len()).ok().filter(|n| (*n as usize) <= MAX_REQUEST).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("a zygote request of {} bytes is too long", body.len()))
    })?;
    let header = len.to_le_bytes();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors for one zygote request"));
    }
    let sent = loop {
        match rustix::net::sendmsg(
            socket,
            &[IoSlice::new(&header), IoSlice::new(&body)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    // A stream socket may take a long request in parts; the descriptors
    // went with the first.
    let all = [&header[..], &body[..]].concat();
    send_all(socket, &all[sent..])
}

fn send_all(socket: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(socket, bytes, SendFlags::NOSIGNAL) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn recv_exact(socket: BorrowedFd<'_>, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::net::recv(socket, &mut *buf, RecvFlags::empty()) {
            Ok((0, _)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok((n, _)) => buf = &mut buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Receives `header` bytes with the descriptors attached to them
/// (close-on-exec), then the rest of the header without; `Ok(None)` on EOF
/// before the first byte.
fn recv_with_fds(socket: BorrowedFd<'_>, header: &mut [u8]) -> io::Result<Option<Vec<OwnedFd>>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(socket, &mut [IoSliceMut::new(header)], &mut control, RecvFlags::CMSG_CLOEXEC) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if msg.bytes == 0 {
        return Ok(None);
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "more descriptors than a zygote message carries"));
    }
    recv_exact(socket, &mut header[msg.bytes..])?;
    Ok(Some(fds))
}

/// Says the zygote is ready, with the kernel's facts if it read them.
///
/// # Errors
/// The socket (the test process is gone).
pub(crate) fn send_ready(socket: BorrowedFd<'_>, facts: Option<&KernelFacts>) -> io::Result<()> {
    let json = serde_json::to_vec(&facts).map_err(io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(|_| invalid("kernel facts too long"))?;
    send_all(socket, &[&[READY][..], &len.to_le_bytes(), &json].concat())
}

/// Waits for the zygote to say it is ready; the kernel's facts it sent, if
/// any.
///
/// # Errors
/// The socket (EOF: it could not start), or a malformed message.
pub(crate) fn recv_ready(socket: BorrowedFd<'_>) -> io::Result<Option<KernelFacts>> {
    let mut header = [0u8; 5];
    recv_exact(socket, &mut header)?;
    if header[0] != READY {
        return Err(invalid("not the ready byte"));
    }
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_REQUEST {
        return Err(invalid("kernel facts too long"));
    }
    let mut json = vec![0u8; len];
    recv_exact(socket, &mut json)?;
    serde_json::from_slice(&json).map_err(|e| invalid(&format!("kernel facts: {e}")))
}

/// Receives one request and its descriptors; `Ok(None)` when the parent
/// has closed the socket.
///
/// # Errors
/// The socket, or a malformed request.
pub(crate) fn recv_request(socket: BorrowedFd<'_>) -> io::Result<Option<(Request, Vec<OwnedFd>)>> {
    let mut header = [0u8; 4];
    let Some(fds) = recv_with_fds(socket, &mut header)? else { return Ok(None) };
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_REQUEST {
        return Err(invalid("too long"));
    }
    let mut body = vec![0u8; len];
    recv_exact(socket, &mut body)?;
    let request = Request::decode(&body);
    body.fill(0);
    std::hint::black_box(&body);
    Ok(Some((request?, fds)))
}

/// PID 1 as the zygote cloned it, or the errno of the clone.
#[derive(Debug)]
pub(crate) enum Reply<Fd> {
    /// Cloned: PID 1's host PID, its pidfd, and whether it was born in the
    /// cgroup.
    Cloned {
        /// The host PID.
        pid: i32,
        /// The pidfd.
        pidfd: Fd,
        /// Born in the cgroup (`CLONE_INTO_CGROUP`).
        in_cgroup: bool,
    },
    /// The clone (or a step before it) failed with this errno.
    Failed(i32),
}

/// Sends a reply.
///
/// # Errors
/// The socket.
pub(crate) fn send_reply(socket: BorrowedFd<'_>, reply: &Reply<OwnedFd>) -> io::Result<()> {
    let mut bytes = [0u8; REPLY_LEN];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let pidfd;
    match reply {
        Reply::Cloned { pid, pidfd: fd, in_cgroup } => {
            bytes[..4].copy_from_slice(&pid.to_le_bytes());
            bytes[4] = u8::from(*in_cgroup);
            pidfd = [fd.as_fd()];
            control.push(SendAncillaryMessage::ScmRights(&pidfd));
        }
        Reply::Failed(errno) => bytes[..4].copy_from_slice(&(-errno.abs().max(1)).to_le_bytes()),
    }
    let sent = loop {
        match rustix::net::sendmsg(socket, &[IoSlice::new(&bytes)], &mut control, SendFlags::NOSIGNAL) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    send_all(socket, &bytes[sent..])
}

/// Receives a reply.
///
/// # Errors
/// The socket (the zygote is gone), or a reply without its pidfd.
pub(crate) fn recv_reply(socket: BorrowedFd<'_>) -> io::Result<Reply<OwnedFd>> {
    let mut bytes = [0u8; REPLY_LEN];
    let fds = recv_with_fds(socket, &mut bytes)?.ok_or(io::ErrorKind::UnexpectedEof)?;
    let pid = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if pid <= 0 {
        return Ok(Reply::Failed(-pid));
    }
    let pidfd = fds.into_iter().next().ok_or_else(|| io::Error::other("the zygote's reply carried no pidfd"))?;
    Ok(Reply::Cloned { pid, pidfd, in_cgroup: bytes[4] != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn request() -> Request {
        Request {
            flags: 0x2002_0000,
            nest: true,
            cgroup: false,
            ahead: true,
            test: "net::t".into(),
            setup: "{\"hostname\":\"h\"}".into(),
            cwd: b"/work/\xffdir".to_vec(),
            env: vec![b"A=1".to_vec(), b"B=\xfe".to_vec(), Vec::new()],
        }
    }

    #[test]
    fn a_request_reads_back_as_it_was_written() {
        let request = request();
        assert_eq!(Request::decode(&request.encode()).unwrap(), request);
        let bytes = request.encode();
        for cut in [0, 5, 9, bytes.len() - 1] {
            assert!(Request::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Request::decode(&longer).is_err());
    }

    #[test]
    fn a_wiped_request_holds_nothing() {
        let mut request = request();
        request.wipe();
        assert!(request.test.is_empty() && request.setup.is_empty());
        assert!(request.cwd.iter().chain(request.env.iter().flatten()).all(|b| *b == 0));
    }

    #[test]
    fn the_ready_message_carries_the_kernel_facts_or_none() {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        let (parent, zygote) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
        let facts = KernelFacts {
            sysctls: vec!["kernel/hostname".into()],
            proc_knobs: vec!["sysrq-trigger".into()],
            proc_files: vec!["keys".into()],
            user_quotas: vec![("max_inotify_instances".into(), 32)],
        };
        send_ready(zygote.as_fd(), Some(&facts)).unwrap();
        send_ready(zygote.as_fd(), None).unwrap();
        assert_eq!(recv_ready(parent.as_fd()).unwrap(), Some(facts));
        assert_eq!(recv_ready(parent.as_fd()).unwrap(), None);
        // What follows on the socket is still a reply, read whole.
        send_reply(zygote.as_fd(), &Reply::Failed(libc::EPERM)).unwrap();
        assert!(matches!(recv_reply(parent.as_fd()).unwrap(), Reply::Failed(libc::EPERM)));
        rustix::io::write(&zygote, b"X\0\0\0\0").unwrap();
        assert!(recv_ready(parent.as_fd()).is_err(), "a ready message starts with READY");
        drop(zygote);
        assert_eq!(recv_ready(parent.as_fd()).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn requests_and_replies_carry_their_descriptors() {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        let (parent, zygote) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
        let (read, write) = rustix::pipe::pipe().unwrap();
        let mut big = request();
        big.setup = "x".repeat(1 << 20);
        let sender = std::thread::spawn(move || {
            send_request(parent.as_fd(), &big, &[write.as_fd()]).unwrap();
            (parent, big)
        });
        let (got, fds) = recv_request(zygote.as_fd()).unwrap().unwrap();
        let (parent, big) = sender.join().unwrap();
        assert_eq!(got, big);
        assert_eq!(fds.len(), 1);
        std::fs::File::from(fds.into_iter().next().unwrap()).write_all(b"through").unwrap();
        let mut text = [0u8; 7];
        std::fs::File::from(read).read_exact(&mut text).unwrap();
        assert_eq!(&text, b"through");

        let (_r, w) = rustix::pipe::pipe().unwrap();
        send_reply(zygote.as_fd(), &Reply::Cloned { pid: 42, pidfd: w, in_cgroup: true }).unwrap();
        assert!(matches!(recv_reply(parent.as_fd()).unwrap(), Reply::Cloned { pid: 42, in_cgroup: true, .. }));
        send_reply(zygote.as_fd(), &Reply::Failed(libc::EPERM)).unwrap();
        assert!(matches!(recv_reply(parent.as_fd()).unwrap(), Reply::Failed(libc::EPERM)));
        drop(zygote);
        assert!(recv_request(parent.as_fd()).unwrap().is_none());
    }
}
