//! Which instructions reference an address: a linear sweep over a module's executable bytes
//! that keeps every branch or call target, RIP-relative or absolute memory operand and
//! address-sized immediate inside the range asked about.

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, OpKind};

use super::disassembly::{branch_target, memory_operand};
use super::instruction::{intel_formatter, process_bitness};
use crate::error::{Error, Result};
use crate::process::Process;
use crate::read::ProgressSink;
use crate::region::Region;

/// How an instruction names the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// A call, jump or conditional branch to it.
    Branch,
    /// A memory operand at it (`[rip+disp]` or `[disp32]`).
    Memory,
    /// An immediate holding it (`mov edi, 0x402010`, `push 0x402010`).
    Immediate,
}

impl ReferenceKind {
    /// `branch`, `memory` or `immediate`.
    pub fn name(self) -> &'static str {
        match self {
            ReferenceKind::Branch => "branch",
            ReferenceKind::Memory => "memory",
            ReferenceKind::Immediate => "immediate",
        }
    }
}

/// One instruction that references the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The instruction's address.
    pub address: u64,
    /// The address it names.
    pub target: u64,
    pub kind: ReferenceKind,
    /// The instruction in Intel syntax.
    pub text: String,
}

/// Instructions in the executable `regions` of `process` that name an address in
/// `[target, target + len)`, in address order. A linear sweep: bytes that do not decode are
/// stepped over one at a time, so data inside code can add a false reference, never hide one
/// that decodes where the code really starts.
pub fn references(
    process: &Process,
    regions: &[Region],
    target: u64,
    len: u64,
    progress: &dyn ProgressSink,
) -> Result<Vec<Reference>> {
    if len == 0 {
        return Err(Error::invalid_argument("reference range of 0 bytes"));
    }
    let end = target.saturating_add(len);
    let all = process.regions()?;
    let bitness = process_bitness(process, &all);
    let code: Vec<&Region> = regions
        .iter()
        .filter(|r| r.perms.exec && r.perms.read)
        .collect();
    let total: u64 = code.iter().map(|r| r.size()).sum();
    progress.set_total(total);
    let mut found = Vec::new();
    let mut formatter = intel_formatter();
    for r in code {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let (bytes, report) = process.read_partial(r.start, r.size() as usize)?;
        let mut decoder = Decoder::with_ip(bitness, &bytes, r.start, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        let holes = report.unreadable;
        while decoder.can_decode() {
            let at = decoder.ip();
            decoder.decode_out(&mut ins);
            if ins.is_invalid() {
                let next = decoder.position() - ins.len() + 1;
                decoder
                    .set_position(next)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                decoder.set_ip(at + 1);
                continue;
            }
            if holes
                .iter()
                .any(|&(h, l)| at < h + l as u64 && h < at + ins.len() as u64)
            {
                continue;
            }
            let mut hit = |value: u64, kind| {
                if (target..end).contains(&value) {
                    let mut text = String::new();
                    formatter.format(&ins, &mut text);
                    found.push(Reference {
                        address: at,
                        target: value,
                        kind,
                        text,
                    });
                }
            };
            if let Some(t) = branch_target(&ins) {
                hit(t, ReferenceKind::Branch);
                continue;
            }
            if let (Some(m), _) = memory_operand(&ins) {
                hit(m, ReferenceKind::Memory);
            }
            for i in 0..ins.op_count() {
                if matches!(
                    ins.op_kind(i),
                    OpKind::Immediate32 | OpKind::Immediate64 | OpKind::Immediate32to64
                ) {
                    hit(ins.immediate(i), ReferenceKind::Immediate);
                }
            }
        }
        progress.advance(r.size());
    }
    Ok(found)
}
