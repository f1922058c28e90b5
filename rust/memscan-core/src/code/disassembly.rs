//! Disassembly of a process's memory as rows: address, bytes, Intel text, and the addresses an
//! instruction names (branch target, RIP-relative or absolute memory operand).

use iced_x86::{Decoder, DecoderOptions, FlowControl, Formatter, Instruction, OpKind};

use super::instruction::{intel_formatter, process_bitness, MAX_LEN};
use crate::error::{Error, Result};
use crate::process::Process;

/// One decoded instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub address: u64,
    pub bytes: Vec<u8>,
    /// Intel syntax; `(bad)` for bytes that do not decode.
    pub text: String,
    /// Where a near branch or call goes.
    pub branch_target: Option<u64>,
    /// The address of a memory operand that needs no register but RIP (`[rip+0x2ee5]`, `[0x601040]`).
    pub memory_target: Option<u64>,
    /// Bytes the memory operand reads or writes (0 without one).
    pub memory_size: u32,
}

/// The most instructions one call disassembles.
pub const MAX_COUNT: usize = 1 << 20;

/// Decodes `count` instructions from `address`, stopping early at unreadable memory. The code
/// size (64 or 32 bits) follows the process's pointer width.
pub fn disassemble(process: &Process, address: u64, count: usize) -> Result<Vec<Line>> {
    if count == 0 || count > MAX_COUNT {
        return Err(Error::invalid_argument(format!(
            "count {count}: disassemble 1 to {MAX_COUNT} instructions"
        )));
    }
    let regions = process.regions()?;
    let bitness = process_bitness(process, &regions);
    let (code, report) = process.read_partial(address, count * MAX_LEN)?;
    let readable = report
        .unreadable
        .first()
        .map_or(code.len(), |&(a, _)| (a - address) as usize);
    if readable == 0 {
        return Err(Error::InvalidAddress {
            pid: process.pid(),
            addr: address,
            len: 1,
            reason: "not readable: no code to disassemble".into(),
        });
    }
    let mut lines = Vec::with_capacity(count);
    let mut decoder = Decoder::with_ip(bitness, &code[..readable], address, DecoderOptions::NONE);
    let mut formatter = intel_formatter();
    let mut ins = Instruction::default();
    while lines.len() < count && decoder.can_decode() {
        let at = decoder.position();
        decoder.decode_out(&mut ins);
        if ins.is_invalid() && at + MAX_LEN > readable && readable < code.len() {
            break; // an instruction cut by unreadable memory
        }
        lines.push(line(&ins, &code[at..at + ins.len().max(1)], &mut formatter));
    }
    Ok(lines)
}

/// The row of one decoded instruction (`bytes` its encoding).
pub(crate) fn line(ins: &Instruction, bytes: &[u8], formatter: &mut impl Formatter) -> Line {
    let mut text = String::new();
    if ins.is_invalid() {
        text.push_str("(bad)");
    } else {
        formatter.format(ins, &mut text);
    }
    let (memory_target, memory_size) = memory_operand(ins);
    Line {
        address: ins.ip(),
        bytes: bytes.to_vec(),
        text,
        branch_target: branch_target(ins),
        memory_target,
        memory_size,
    }
}

/// The target of a near branch, call or loop.
pub(crate) fn branch_target(ins: &Instruction) -> Option<u64> {
    let direct = matches!(
        ins.flow_control(),
        FlowControl::UnconditionalBranch
            | FlowControl::ConditionalBranch
            | FlowControl::Call
            | FlowControl::XbeginXabortXend
    );
    (direct
        && (0..ins.op_count()).any(|i| {
            matches!(
                ins.op_kind(i),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            )
        }))
    .then(|| ins.near_branch_target())
}

/// The address of a memory operand fixed at link or load time, and the operand's size.
pub(crate) fn memory_operand(ins: &Instruction) -> (Option<u64>, u32) {
    let has_memory = (0..ins.op_count()).any(|i| ins.op_kind(i) == OpKind::Memory);
    if !has_memory {
        return (None, 0);
    }
    let size = ins.memory_size().size() as u32;
    let fixed = if ins.is_ip_rel_memory_operand() {
        Some(ins.ip_rel_memory_address())
    } else if ins.memory_base() == iced_x86::Register::None
        && ins.memory_index() == iced_x86::Register::None
        && ins.memory_displ_size() >= 4
        && ins.segment_prefix() == iced_x86::Register::None
    {
        Some(ins.memory_displacement64())
    } else {
        None
    };
    (fixed, size)
}
