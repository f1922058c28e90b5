//! Reversible patches of code. Code pages are read-only, so bytes are written through
//! `/proc/PID/mem`; and a thread must never execute half-old, half-new bytes, so every thread is
//! stopped first and the write waits until none is inside the bytes (or about to restart a
//! system call there). The write is read back before the threads run again.

use std::time::{Duration, Instant};

use iced_x86::{Decoder, DecoderOptions};

use super::instruction::{process_bitness, MAX_LEN};
use crate::error::{Error, Result};
use crate::platform::{self, StoppedThreads, ThreadPosition};
use crate::process::Process;

/// How a patch is written.
#[derive(Debug, Clone, Copy)]
pub struct PatchOptions {
    /// How long to keep trying while a thread executes inside the bytes.
    pub wait: Duration,
}

impl Default for PatchOptions {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(2),
        }
    }
}

/// The longest patch, in bytes.
pub const MAX_PATCH: usize = 4096;

/// Bytes written over code, with the bytes they replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub address: u64,
    /// What was there before.
    pub original: Vec<u8>,
    /// What the patch wrote.
    pub patched: Vec<u8>,
}

impl Patch {
    /// Writes `bytes` at `address` with every thread of `process` stopped and none inside them.
    pub fn apply(
        process: &Process,
        address: u64,
        bytes: &[u8],
        options: PatchOptions,
    ) -> Result<Self> {
        if bytes.is_empty() || bytes.len() > MAX_PATCH {
            return Err(Error::invalid_argument(format!(
                "a patch of {} bytes: patch 1 to {MAX_PATCH} bytes",
                bytes.len()
            )));
        }
        let original = write_stopped(process, address, None, bytes, options)?;
        Ok(Self {
            address,
            original,
            patched: bytes.to_vec(),
        })
    }

    /// Replaces the instruction at `address` with one-byte NOPs.
    pub fn nop(process: &Process, address: u64, options: PatchOptions) -> Result<Self> {
        let (len, _) = instruction_at(process, address)?;
        Self::apply(process, address, &vec![0x90; len], options)
    }

    /// Assembles `text` (one instruction, Intel syntax) for `address` and writes it over the
    /// instruction there, padded with NOPs to that instruction's end. An encoding longer than
    /// the instruction it replaces is refused: it would cut the next one in half.
    pub fn assemble(
        process: &Process,
        address: u64,
        text: &str,
        options: PatchOptions,
    ) -> Result<Self> {
        let (len, bitness) = instruction_at(process, address)?;
        let mut bytes = super::assemble::assemble(text, address, bitness)?;
        if bytes.len() > len {
            return Err(Error::invalid_argument(format!(
                "{text:?} takes {} bytes, more than the {len}-byte instruction at {address:#x}: \
                 write over several instructions with a byte patch",
                bytes.len()
            )));
        }
        bytes.resize(len, 0x90);
        Self::apply(process, address, &bytes, options)
    }

    /// Puts the original bytes back, refusing if the bytes there are no longer the patch's
    /// (the program rewrote them, or another patch overlaps).
    pub fn restore(&self, process: &Process, options: PatchOptions) -> Result<()> {
        write_stopped(
            process,
            self.address,
            Some(&self.patched),
            &self.original,
            options,
        )
        .map(|_| ())
    }

    /// True if the process holds the patched bytes now.
    pub fn is_applied(&self, process: &Process) -> Result<bool> {
        Ok(process.read(self.address, self.patched.len())? == self.patched)
    }
}

/// The length of the instruction at `address`, and the process's code size in bits.
fn instruction_at(process: &Process, address: u64) -> Result<(usize, u32)> {
    let (code, report) = process.read_partial(address, MAX_LEN)?;
    let readable = report
        .unreadable
        .first()
        .map_or(code.len(), |&(a, _)| (a - address) as usize);
    let regions = process.regions()?;
    let bitness = process_bitness(process, &regions);
    let ins = Decoder::with_ip(bitness, &code[..readable], address, DecoderOptions::NONE).decode();
    if ins.is_invalid() {
        return Err(Error::invalid_argument(format!(
            "no instruction decodes at {address:#x}"
        )));
    }
    Ok((ins.len(), bitness))
}

/// Writes `bytes` at `address` while every thread is stopped outside them; with `expect`, only
/// if the bytes there are `expect`. Returns the bytes replaced.
fn write_stopped(
    process: &Process,
    address: u64,
    expect: Option<&[u8]>,
    bytes: &[u8],
    options: PatchOptions,
) -> Result<Vec<u8>> {
    process.require_live("patching code")?;
    let regions = process.regions()?;
    process.check_writable(&regions, address, bytes.len(), true)?;
    let end = address + bytes.len() as u64;
    let deadline = Instant::now() + options.wait;
    let mut pause = Duration::from_micros(100);
    loop {
        process.check()?;
        let stopped = StoppedThreads::stop(process.pid())?;
        // A thread at `address` runs the new bytes from their start; one inside them (or that
        // resumes inside them when its system call restarts) could run half of each.
        let inside_bytes = |ip: u64| address < ip && ip < end;
        let inside: Vec<ThreadPosition> = stopped
            .positions()?
            .into_iter()
            .filter(|t| inside_bytes(t.ip) || t.restart_ip.is_some_and(inside_bytes))
            .collect();
        if inside.is_empty() {
            return write_checked(process, &stopped, address, expect, bytes);
        }
        drop(stopped);
        if Instant::now() >= deadline {
            let t = inside[0];
            return Err(Error::Busy(format!(
                "thread {} kept executing inside {address:#x}..{end:#x} (at {:#x}) for {:?}; \
                 nothing was written",
                t.tid, t.ip, options.wait
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// The write itself, threads stopped: compare, write, read back, undo on a mismatch.
fn write_checked(
    process: &Process,
    stopped: &StoppedThreads,
    address: u64,
    expect: Option<&[u8]>,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    debug_assert_eq!(stopped.pid(), process.pid());
    let before = process.read(address, bytes.len())?;
    if let Some(expect) = expect {
        if before != expect {
            return Err(Error::invalid_value(format!(
                "the {} bytes at {address:#x} are no longer the patch's (something rewrote \
                 them); nothing was restored",
                bytes.len()
            )));
        }
    }
    let written = platform::write_memory_forced(process.pid(), address, bytes)?;
    let back = process.read(address, bytes.len())?;
    if written < bytes.len() || back != bytes {
        let _ = platform::write_memory_forced(process.pid(), address, &before);
        return Err(Error::WriteFailed {
            addr: address,
            len: bytes.len(),
            written,
            source: std::io::Error::other("the bytes read back differ from those written"),
        });
    }
    Ok(before)
}
