//! Many instances of one structure read at once: `size` bytes at each address, in the caller's
//! order, with one vectored read for all of them.

use crate::error::{Error, Result};
use crate::platform;
use crate::process::Process;
use crate::read::{clear_of_holes, with_buffer, zeroed, Gather};

/// The largest structure read per instance.
pub const MAX_INSTANCE_BYTES: usize = 1 << 20;
/// The most bytes one call reads in all.
const MAX_TOTAL_BYTES: usize = 1 << 31;

/// Rows of `size` bytes, one per address in the order given, and which rows were readable in
/// full (an unreadable row holds zeros where it could not be read).
#[derive(Debug, Clone, Default)]
pub struct Instances {
    pub size: usize,
    pub bytes: Vec<u8>,
    pub readable: Vec<bool>,
}

/// Reads `size` bytes at each of `addresses`: nearby instances share a span, and every span is
/// read with one vectored syscall per 1024 spans (the same gathered read value histories use).
pub fn read_instances(process: &Process, addresses: &[u64], size: usize) -> Result<Instances> {
    if size == 0 || size > MAX_INSTANCE_BYTES {
        return Err(Error::invalid_argument(format!(
            "structure size {size} is outside 1..={MAX_INSTANCE_BYTES} bytes"
        )));
    }
    let total = addresses
        .len()
        .checked_mul(size)
        .filter(|&t| t <= MAX_TOTAL_BYTES)
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "{} instances of {size} bytes is more than {MAX_TOTAL_BYTES} bytes in one read",
                addresses.len()
            ))
        })?;
    if let Some(&a) = addresses
        .iter()
        .find(|&&a| a.checked_add(size as u64).is_none())
    {
        return Err(Error::invalid_argument(format!(
            "{size} bytes at {a:#x} run past the end of the address space"
        )));
    }
    let mut order: Vec<u32> = (0..addresses.len() as u32).collect();
    order.sort_unstable_by_key(|&i| addresses[i as usize]);
    let sorted: Vec<u64> = order.iter().map(|&i| addresses[i as usize]).collect();
    let gather = Gather::new(&sorted, size);
    let page = platform::page_size();
    let mut bytes = zeroed(total)?;
    let mut readable = vec![true; addresses.len()];
    with_buffer(gather.len, |buf| -> Result<()> {
        let holes = gather.read(process.memory(), buf, page)?;
        process.check_alive()?;
        let mut cur = 0;
        for (k, &i) in order.iter().enumerate() {
            let off = gather.offsets[k];
            let row = i as usize * size;
            bytes[row..row + size].copy_from_slice(&buf[off..off + size]);
            if !holes.is_empty() && !clear_of_holes(&holes, &mut cur, off, size) {
                readable[i as usize] = false; // its unreadable bytes were read as zeros
            }
        }
        Ok(())
    })?;
    Ok(Instances {
        size,
        bytes,
        readable,
    })
}
