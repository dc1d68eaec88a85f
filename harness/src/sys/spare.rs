//! PID 2's side of the spare route of its result (see
//! [`super::pid1::CHILD_SPARE_FD`]): the shared memory file PID 1 made,
//! mapped before the body runs, written only if the body took the result
//! channel's descriptor away.
#![allow(unsafe_code)]

use std::ptr::NonNull;

use super::pid1::{CHILD_SPARE_FD, SPARE_SIZE};

/// The mapping of the spare file; never unmapped (PID 2 exits with it).
pub(crate) struct Spare {
    base: NonNull<u8>,
}

// SAFETY: the mapping is plain shared memory; `append` takes `&mut self`,
// so one thread at a time writes it.
unsafe impl Send for Spare {}

impl Spare {
    /// Maps the spare file PID 1 handed over, then closes its descriptor
    /// (the body never sees it); `None` where there is none.
    pub(crate) fn adopt() -> Option<Self> {
        let fd = super::fd::adopt_inherited(CHILD_SPARE_FD)?;
        // SAFETY: a new shared mapping of the whole file, which PID 1 sized
        // to SPARE_SIZE; nothing else in this process aliases it.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                SPARE_SIZE,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .ok()?;
        NonNull::new(base.cast()).map(|base| Self { base })
    }

    /// Appends `bytes` after what is there, if they fit; a message that
    /// does not fit is lost (a huge pollution report), later ones still go.
    pub(crate) fn append(&mut self, bytes: &[u8]) {
        // SAFETY: every access stays within the SPARE_SIZE bytes mapped;
        // the length word is at offset 0 of a page-aligned mapping.
        unsafe {
            let length = self.base.as_ptr().cast::<u64>();
            let used = (length.read() as usize).min(SPARE_SIZE - 8);
            if bytes.len() > SPARE_SIZE - 8 - used {
                return;
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.as_ptr().add(8 + used), bytes.len());
            length.write((used + bytes.len()) as u64);
        }
    }
}
