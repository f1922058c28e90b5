//! One instruction from Intel-syntax text to bytes, with iced-x86's encoder: the text is parsed
//! into operands (registers, `size ptr [base+index*scale+disp]`, immediates, branch targets),
//! every encoding of the mnemonic is tried, and the shortest that encodes those operands at the
//! size asked for wins. The bytes are decoded again and must print as the instruction built.

use std::collections::HashMap;
use std::sync::OnceLock;

use iced_x86::{
    Code, Decoder, DecoderOptions, Encoder, Formatter, Instruction, MemoryOperand, Mnemonic,
    Register,
};

use super::instruction::intel_formatter;
use crate::error::{Error, Result};

/// An operand as written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Operand {
    Reg(Register),
    /// A memory operand and its size in bytes when the text gives one (`dword ptr`).
    Mem(MemoryOperand, Option<usize>),
    Imm(i64),
}

fn lookup<T: Copy>(
    table: &'static OnceLock<HashMap<String, T>>,
    all: impl Fn() -> Vec<(String, T)>,
    name: &str,
) -> Option<T> {
    table
        .get_or_init(|| all().into_iter().collect())
        .get(&name.to_ascii_lowercase())
        .copied()
}

fn register(name: &str) -> Option<Register> {
    static TABLE: OnceLock<HashMap<String, Register>> = OnceLock::new();
    lookup(
        &TABLE,
        || {
            Register::values()
                .filter(|&r| r != Register::None)
                .map(|r| (format!("{r:?}").to_ascii_lowercase(), r))
                .collect()
        },
        name,
    )
}

fn mnemonic(name: &str) -> Option<Mnemonic> {
    static TABLE: OnceLock<HashMap<String, Mnemonic>> = OnceLock::new();
    lookup(
        &TABLE,
        || {
            Mnemonic::values()
                .map(|m| (format!("{m:?}").to_ascii_lowercase(), m))
                .collect()
        },
        name,
    )
}

fn number(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.trim()),
        None => (false, text.trim()),
    };
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => match digits.strip_suffix(['h', 'H']) {
            Some(hex) => u64::from_str_radix(hex, 16).ok()?,
            None => digits.parse::<u64>().ok()?,
        },
    } as i64;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

fn memory_size(word: &str) -> Option<usize> {
    Some(match word {
        "byte" => 1,
        "word" => 2,
        "dword" => 4,
        "fword" => 6,
        "qword" => 8,
        "tbyte" | "tword" => 10,
        "xmmword" | "oword" => 16,
        "ymmword" => 32,
        "zmmword" => 64,
        _ => return None,
    })
}

/// One operand; in 64-bit code a memory operand without registers is RIP-relative, written as
/// its absolute target (`[0x7f12ab000010]`), as the disassembler prints it.
fn operand(text: &str, bitness: u32) -> Result<Operand> {
    let bad = |why: &str| Error::invalid_argument(format!("operand {text:?}: {why}"));
    let t = text.trim().to_ascii_lowercase();
    if let Some(open) = t.find('[') {
        let prefix: Vec<&str> = t[..open].split_whitespace().collect();
        let size = match prefix.as_slice() {
            [] => None,
            [size, "ptr"] => Some(memory_size(size).ok_or_else(|| bad("unknown size"))?),
            _ => return Err(bad("expected `size ptr [...]` or `[...]`")),
        };
        let inner = t[open + 1..]
            .strip_suffix(']')
            .ok_or_else(|| bad("no closing ']'"))?;
        let (mut base, mut index, mut scale, mut displ) = (Register::None, Register::None, 1, 0i64);
        for term in inner.replace('-', "+-").split('+').map(str::trim) {
            if term.is_empty() {
                continue;
            }
            if let Some((reg, factor)) = term.split_once('*') {
                if index != Register::None {
                    return Err(bad("two index registers"));
                }
                index = register(reg.trim()).ok_or_else(|| bad("unknown index register"))?;
                scale = match number(factor) {
                    Some(s @ (1 | 2 | 4 | 8)) => s as u32,
                    _ => return Err(bad("the scale is 1, 2, 4 or 8")),
                };
            } else if let Some(r) = register(term) {
                if base == Register::None {
                    base = r;
                } else if index == Register::None {
                    index = r;
                } else {
                    return Err(bad("too many registers"));
                }
            } else {
                displ = displ.wrapping_add(number(term).ok_or_else(|| bad("unknown term"))?);
            }
        }
        let absolute = base == Register::None && index == Register::None;
        if absolute && bitness == 64 {
            base = Register::RIP;
        }
        let displ_size = if absolute {
            8
        } else if displ == 0 {
            0
        } else {
            1
        };
        let mem =
            MemoryOperand::with_base_index_scale_displ_size(base, index, scale, displ, displ_size);
        return Ok(Operand::Mem(mem, size));
    }
    if let Some(r) = register(&t) {
        return Ok(Operand::Reg(r));
    }
    number(&t)
        .map(Operand::Imm)
        .ok_or_else(|| bad("not a register, memory operand or number"))
}

/// `code` with `ops`, or `None` when the operands do not fit that encoding.
fn build(code: Code, ops: &[Operand]) -> Option<Instruction> {
    use Operand::{Imm, Mem, Reg};
    let imm32 = |v: i64| i32::try_from(v).ok();
    let built = match *ops {
        [] => Ok(Instruction::with(code)),
        [Reg(a)] => Instruction::with1(code, a),
        [Mem(a, _)] => Instruction::with1(code, a),
        [Imm(a)] => match Instruction::with_branch(code, a as u64) {
            Ok(ins) => Ok(ins),
            Err(_) => Instruction::with1(code, imm32(a)?),
        },
        [Reg(a), Reg(b)] => Instruction::with2(code, a, b),
        [Reg(a), Mem(b, _)] => Instruction::with2(code, a, b),
        [Mem(a, _), Reg(b)] => Instruction::with2(code, a, b),
        [Reg(a), Imm(b)] => Instruction::with2(code, a, b),
        [Mem(a, _), Imm(b)] => Instruction::with2(code, a, imm32(b)?),
        [Reg(a), Reg(b), Reg(c)] => Instruction::with3(code, a, b, c),
        [Reg(a), Reg(b), Imm(c)] => Instruction::with3(code, a, b, imm32(c)?),
        [Reg(a), Mem(b, _), Imm(c)] => Instruction::with3(code, a, b, imm32(c)?),
        [Reg(a), Mem(b, _), Reg(c)] => Instruction::with3(code, a, b, c),
        [Mem(a, _), Reg(b), Reg(c)] => Instruction::with3(code, a, b, c),
        [Mem(a, _), Reg(b), Imm(c)] => Instruction::with3(code, a, b, imm32(c)?),
        _ => return None,
    };
    built.ok()
}

/// Encodes `text` (one instruction in Intel syntax) as it would run at `address` in code of
/// `bitness` (64 or 32) bits: the shortest encoding, checked by decoding it again.
pub fn assemble(text: &str, address: u64, bitness: u32) -> Result<Vec<u8>> {
    let bad = |why: String| Error::invalid_argument(format!("cannot assemble {text:?}: {why}"));
    let text = text.trim();
    let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let wanted = mnemonic(name).ok_or_else(|| bad(format!("unknown mnemonic {name:?}")))?;
    let ops = if rest.trim().is_empty() {
        Vec::new()
    } else {
        rest.split(',')
            .map(|o| operand(o, bitness))
            .collect::<Result<Vec<_>>>()?
    };
    let size = ops.iter().find_map(|o| match o {
        Operand::Mem(_, size) => Some(*size),
        _ => None,
    });
    let mut best: Option<(Vec<u8>, Instruction)> = None;
    let mut sizes = std::collections::BTreeSet::new();
    for code in Code::values()
        .filter(|c| c.mnemonic() == wanted && c.op_code().op_count() as usize == ops.len())
    {
        let Some(ins) = build(code, &ops) else {
            continue;
        };
        if let Some(Some(size)) = size {
            if ins.memory_size().size() != size {
                continue;
            }
        }
        let mut encoder = Encoder::new(bitness);
        if encoder.encode(&ins, address).is_err() {
            continue;
        }
        let bytes = encoder.take_buffer();
        sizes.insert(ins.memory_size().size());
        if best.as_ref().is_none_or(|(b, _)| bytes.len() < b.len()) {
            best = Some((bytes, ins));
        }
    }
    let (bytes, ins) = best.ok_or_else(|| bad("no encoding takes these operands".into()))?;
    if matches!(size, Some(None)) && sizes.len() > 1 {
        return Err(bad(
            "the memory operand's size is ambiguous: say `byte ptr`, `dword ptr`, ...".into(),
        ));
    }
    let decoded = Decoder::with_ip(bitness, &bytes, address, DecoderOptions::NONE).decode();
    let (mut want, mut got) = (String::new(), String::new());
    let mut formatter = intel_formatter();
    formatter.format(&ins, &mut want);
    formatter.format(&decoded, &mut got);
    if decoded.len() != bytes.len() || want != got {
        return Err(Error::Internal(format!(
            "assembling {text:?} gave bytes that decode as {got:?}, not {want:?}"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8], at: u64) -> String {
        let ins = Decoder::with_ip(64, bytes, at, DecoderOptions::NONE).decode();
        let mut out = String::new();
        intel_formatter().format(&ins, &mut out);
        out
    }

    #[test]
    fn instructions_round_trip_through_the_disassembler() {
        for (src, printed) in [
            (
                "mov dword ptr [rbx+0x10], 999",
                "mov dword ptr [rbx+0x10], 0x3e7",
            ),
            ("nop", "nop"),
            ("ret", "ret"),
            ("add rax, 1", "add rax, 1"),
            ("sub dword ptr [r15+8], edx", "sub dword ptr [r15+8], edx"),
            (
                "mov eax, dword ptr [rsp+rcx*4-0x20]",
                "mov eax, dword ptr [rsp+rcx*4-0x20]",
            ),
            ("xor ecx, ecx", "xor ecx, ecx"),
            ("imul eax, ebx, 12", "imul eax, ebx, 0xc"),
            ("movss xmm0, dword ptr [rdi]", "movss xmm0, dword ptr [rdi]"),
        ] {
            let bytes = assemble(src, 0x1000, 64).unwrap();
            assert_eq!(text(&bytes, 0x1000), printed, "{src}");
        }
        // RIP-relative operands are written as their target, as the disassembler prints them.
        let rip = assemble("sub dword ptr [0x5000], edi", 0x1000, 64).unwrap();
        assert_eq!(rip, [0x29, 0x3d, 0xfa, 0x3f, 0x00, 0x00]);
        assert_eq!(text(&rip, 0x1000), "sub dword ptr [0x5000], edi");
        // The shortest form: an 8-bit immediate, not a 32-bit one.
        assert_eq!(assemble("add eax, 1", 0, 64).unwrap(), [0x83, 0xc0, 0x01]);
        // A branch target is absolute, encoded relative to the address.
        let jmp = assemble("jmp 0x1010", 0x1000, 64).unwrap();
        assert_eq!(text(&jmp, 0x1000), "jmp short 0x0000000000001010");
        assert_eq!(jmp, [0xeb, 0x0e]);
    }

    #[test]
    fn bad_text_is_an_error() {
        for bad in [
            "",
            "frobnicate eax",
            "mov eax,",
            "mov eax, [rbx",
            "mov eax, qword ptr [rbx]",
            "mov [rbx], 1",
            "mov eax, [rbx*3]",
            "add eax, rbx",
            "mov al, 0x1234",
        ] {
            assert!(assemble(bad, 0, 64).is_err(), "{bad:?} was accepted");
        }
    }
}
