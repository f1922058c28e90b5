//! x86 instructions: decoding and Intel-syntax text, effective addresses from sampled
//! registers, and naming the instruction behind a watch hit. A data breakpoint traps after the
//! access, so the sampled instruction pointer is the *next* instruction: the accessing one is
//! found by decoding backwards and keeping the decoding whose memory operand, computed from the
//! sampled registers, covers the watched bytes.

use iced_x86::{
    Decoder, DecoderOptions, Formatter, Instruction, InstructionInfoFactory, IntelFormatter,
    MemorySizeOptions, Mnemonic, OpKind, Register,
};

use crate::platform::breakpoint::REGISTERS;

/// The longest x86 instruction.
pub const MAX_LEN: usize = 15;

/// A decoded instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub address: u64,
    pub bytes: Vec<u8>,
    /// Intel syntax, e.g. `mov dword ptr [rip+0x2ee5], eax`.
    pub text: String,
    /// Where a `mov` to memory takes its value from.
    pub source: Option<Source>,
}

impl Decoded {
    /// The instruction again, decoded from its bytes at `ip` (its address).
    pub fn instruction(&self, ip: u64) -> Option<Instruction> {
        let ins = Decoder::with_ip(bitness(), &self.bytes, ip, DecoderOptions::NONE).decode();
        (!ins.is_invalid()).then_some(ins)
    }
}

/// The source operand of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Sampled register `index`, shifted right by `shift` bits and cut to `bits`.
    Register {
        index: usize,
        shift: u32,
        bits: u32,
    },
    Immediate(u64),
}

impl Source {
    /// The stored value, given the registers sampled with the hit.
    pub fn value(self, registers: Option<&[u64; REGISTERS]>) -> Option<u64> {
        match self {
            Source::Immediate(v) => Some(v),
            Source::Register { index, shift, bits } => {
                let v = registers?.get(index)? >> shift;
                Some(if bits >= 64 { v } else { v & ((1 << bits) - 1) })
            }
        }
    }
}

/// The index in the sampled registers of `reg`'s full register, and the shift of `reg` in it.
fn register_slot(reg: Register) -> Option<(usize, u32)> {
    let shift = match reg {
        Register::AH | Register::BH | Register::CH | Register::DH => 8,
        _ => 0,
    };
    let index = match reg.full_register() {
        Register::RAX => 0,
        Register::RBX => 1,
        Register::RCX => 2,
        Register::RDX => 3,
        Register::RSI => 4,
        Register::RDI => 5,
        Register::RBP => 6,
        Register::RSP => 7,
        Register::RIP => 8,
        Register::R8 => 10,
        Register::R9 => 11,
        Register::R10 => 12,
        Register::R11 => 13,
        Register::R12 => 14,
        Register::R13 => 15,
        Register::R14 => 16,
        Register::R15 => 17,
        _ => return None,
    };
    (index < REGISTERS).then_some((index, shift))
}

/// Intel syntax as memscan prints it: `mov dword ptr [rbx+0x10], eax`.
pub fn intel_formatter() -> IntelFormatter {
    let mut formatter = IntelFormatter::new();
    let options = formatter.options_mut();
    options.set_hex_prefix("0x");
    options.set_hex_suffix("");
    options.set_uppercase_hex(false);
    options.set_space_after_operand_separator(true);
    options.set_memory_size_options(MemorySizeOptions::Always);
    formatter
}

/// The memory `ins` accesses (address, size in bytes), computed from registers sampled before it
/// ran (an execute watch samples there); `None` without a memory operand or when it needs a
/// register that is not sampled (segment bases of `fs:`/`gs:`).
pub fn effective_address(ins: &Instruction, registers: &[u64; REGISTERS]) -> Option<(u64, u32)> {
    let mut info = InstructionInfoFactory::new();
    let used = info.info(ins).used_memory().first().copied()?;
    let ea = used.virtual_address(0, |reg, _, _| match reg {
        Register::None => Some(0),
        Register::ES | Register::CS | Register::SS | Register::DS => Some(0),
        _ => register_slot(reg).map(|(i, s)| registers[i] >> s),
    })?;
    Some((ea, used.memory_size().size() as u32))
}

fn describe(ins: &Instruction, code: &[u8]) -> Decoded {
    let mut text = String::new();
    intel_formatter().format(ins, &mut text);
    let source = (ins.mnemonic() == Mnemonic::Mov
        && ins.op_count() == 2
        && ins.op0_kind() == OpKind::Memory)
        .then(|| match ins.op1_kind() {
            OpKind::Register => {
                let reg = ins.op1_register();
                register_slot(reg).map(|(index, shift)| Source::Register {
                    index,
                    shift,
                    bits: reg.size() as u32 * 8,
                })
            }
            OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate32to64
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64 => {
                let bits = ins.memory_size().size() as u32 * 8;
                let v = ins.immediate(1);
                Some(Source::Immediate(if bits >= 64 {
                    v
                } else {
                    v & ((1 << bits) - 1)
                }))
            }
            _ => None,
        })
        .flatten();
    Decoded {
        address: ins.ip(),
        bytes: code.to_vec(),
        text,
        source,
    }
}

/// The code size of a process in bits (64, or 32 for a 32-bit program), from the pointer width
/// its executable's header declares.
pub fn process_bitness(
    process: &crate::process::Process,
    regions: &[crate::region::Region],
) -> u32 {
    8 * crate::modules::pointer_width(process.memory(), regions) as u32
}

/// The host's code size in bits (64 on x86-64).
pub fn bitness() -> u32 {
    if cfg!(target_pointer_width = "64") {
        64
    } else {
        32
    }
}

/// The instruction at `ip`, given `code` read from `code_start` (which must cover `ip`).
pub fn decode_at(code: &[u8], code_start: u64, ip: u64) -> Option<Decoded> {
    let at = usize::try_from(ip.checked_sub(code_start)?).ok()?;
    let bytes = code.get(at..)?;
    let ins = Decoder::with_ip(bitness(), bytes, ip, DecoderOptions::NONE).decode();
    (!ins.is_invalid()).then(|| describe(&ins, &bytes[..ins.len()]))
}

/// The instruction that ends at `ip` and accessed `watched` (address, length), given `code` read
/// from `code_start` (covering up to [`MAX_LEN`] bytes before `ip`) and the registers sampled
/// after it ran. Among the decodings that end at `ip` and touch memory, the one whose operand
/// covers the watched bytes wins; without registers, the longest.
pub fn decode_before(
    code: &[u8],
    code_start: u64,
    ip: u64,
    watched: (u64, u64),
    registers: Option<&[u64; REGISTERS]>,
) -> Option<Decoded> {
    let end = usize::try_from(ip.checked_sub(code_start)?).ok()?;
    let mut info = InstructionInfoFactory::new();
    let mut fallback = None;
    for len in (1..=MAX_LEN.min(end)).rev() {
        let start = end - len;
        let bytes = &code[start..end];
        let ins =
            Decoder::with_ip(bitness(), bytes, ip - len as u64, DecoderOptions::NONE).decode();
        if ins.is_invalid() || ins.len() != len {
            continue;
        }
        let used = info.info(&ins).used_memory().to_vec();
        if used.is_empty() {
            continue;
        }
        let covers = registers.is_some_and(|regs| {
            used.iter().any(|m| {
                let ea = m.virtual_address(0, |reg, _, _| match reg {
                    Register::None => Some(0),
                    Register::ES | Register::CS | Register::SS | Register::DS => Some(0),
                    _ => register_slot(reg).map(|(i, s)| regs[i] >> s),
                });
                ea.is_some_and(|a| {
                    let size = m.memory_size().size().max(1) as u64;
                    a < watched.0 + watched.1 && watched.0 < a + size
                })
            })
        });
        if covers {
            return Some(describe(&ins, bytes));
        }
        fallback.get_or_insert_with(|| describe(&ins, bytes));
    }
    fallback
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn finds_the_store_before_the_ip_and_its_source_register() {
        // nop; mov dword ptr [rbx+8], eax; (ip here)
        let code = [0x90, 0x89, 0x43, 0x08];
        let mut regs = [0u64; REGISTERS];
        regs[0] = 0xdead_0000_0000_0007; // rax
        regs[1] = 0x1000; // rbx
        let d = decode_before(&code, 0x400, 0x404, (0x1008, 4), Some(&regs)).unwrap();
        assert_eq!(d.address, 0x401);
        assert_eq!(d.bytes, [0x89, 0x43, 0x08]);
        assert_eq!(d.text, "mov dword ptr [rbx+8], eax");
        assert_eq!(d.source.unwrap().value(Some(&regs)), Some(7));
    }

    #[test]
    fn an_immediate_store_and_the_instruction_at_an_address() {
        // mov dword ptr [rip+0x10], 0x2a
        let code = [0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00];
        let d = decode_at(&code, 0x1000, 0x1000).unwrap();
        assert_eq!(d.bytes.len(), 10);
        assert_eq!(d.source, Some(Source::Immediate(0x2a)));
        let back = decode_before(&code, 0x1000, 0x100a, (0x101a, 4), None).unwrap();
        assert_eq!(back.address, 0x1000);
    }

    #[test]
    fn high_byte_registers_shift() {
        let s = Source::Register {
            index: 0,
            shift: 8,
            bits: 8,
        };
        let mut regs = [0u64; REGISTERS];
        regs[0] = 0xabcd;
        assert_eq!(s.value(Some(&regs)), Some(0xab));
    }
}
