//! Byte signatures ("AOB"s) that find an instruction again after the program is rebuilt: the
//! instruction's bytes and the ones after it, with every byte that encodes an address (a
//! RIP-relative displacement, a branch or call target, an absolute address in an operand)
//! wildcarded from the decoder's own operand layout, cut to the shortest pattern that is
//! unique in its module (or in every build given).

use iced_x86::{Decoder, DecoderOptions, Instruction};

use super::disassembly::branch_target;
use super::segments::CodeSegments;
use crate::error::{Error, Result};
use crate::pattern::BytePattern;
use crate::process::Process;

/// Limits of the search for a signature.
#[derive(Debug, Clone, Copy)]
pub struct SignatureOptions {
    /// The longest pattern tried, in bytes.
    pub max_bytes: usize,
    /// How far before the address a pattern may start, in bytes (used only when no pattern
    /// starting at the address is unique).
    pub max_before: usize,
}

impl Default for SignatureOptions {
    fn default() -> Self {
        Self {
            max_bytes: 64,
            max_before: 64,
        }
    }
}

/// A unique byte pattern and where the address lies from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub pattern: BytePattern,
    /// The module the pattern is unique in (its name, or the first build's path).
    pub module: String,
    /// Where the pattern starts, in the first build.
    pub start: u64,
    /// The address minus the pattern's start.
    pub offset: u64,
    /// How many instructions the pattern covers.
    pub instructions: usize,
    /// Where the address lands in each build (the first is the address given).
    pub found: Vec<u64>,
}

impl Signature {
    /// The address expression that finds the address again: `sig:game:48 8B 05 ?? ?? ?? ??+7`.
    pub fn expression(&self) -> String {
        let module = self
            .module
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&self.module);
        let quoted = if module.contains(':') || module.contains('"') {
            format!("{module:?}")
        } else {
            module.to_owned()
        };
        match self.offset {
            0 => format!("sig:{quoted}:{}", self.pattern),
            off => format!("sig:{quoted}:{}+{off:#x}", self.pattern),
        }
    }
}

/// The shortest signature of `address` unique in its module of `process`.
pub fn signature(process: &Process, address: u64, options: SignatureOptions) -> Result<Signature> {
    let code = CodeSegments::of_module_at(process, address)?;
    signature_across(&[code], address, options)
}

/// The shortest signature of `address` (in `builds[0]`) that is unique in every one of
/// `builds`: the same code in other builds of the program, wherever it moved.
pub fn signature_across(
    builds: &[CodeSegments],
    address: u64,
    options: SignatureOptions,
) -> Result<Signature> {
    let first = builds
        .first()
        .ok_or_else(|| Error::invalid_argument("no build to make a signature in"))?;
    if first.bytes_from(address).is_none() {
        return Err(Error::invalid_argument(format!(
            "{address:#x} is not in the readable bytes of {}",
            first.name
        )));
    }
    let mut best: Option<Signature> = None;
    let mut counts_seen = Vec::new();
    for start in starts(first, address, options.max_before) {
        let budget = options
            .max_bytes
            .min(best.as_ref().map_or(usize::MAX, |b| b.pattern.len()));
        match shortest_from(builds, start, address, budget) {
            Ok((pattern, instructions, found)) => {
                let offset = address - start;
                let better = best
                    .as_ref()
                    .is_none_or(|b| pattern.len() < b.pattern.len());
                if better {
                    best = Some(Signature {
                        pattern,
                        module: first.name.clone(),
                        start,
                        offset,
                        instructions,
                        found: found.iter().map(|f| f + offset).collect(),
                    });
                }
                if start == address {
                    break; // a pattern at the address itself is the most robust
                }
            }
            Err(counts) => counts_seen.push(counts),
        }
    }
    best.ok_or_else(|| {
        let counts = counts_seen.first().cloned().unwrap_or_default();
        Error::invalid_argument(format!(
            "no signature of at most {} bytes around {address:#x} is unique in {}: the longest \
             pattern from the address matches {counts:?} places",
            options.max_bytes,
            if builds.len() == 1 {
                first.name.clone()
            } else {
                format!("every one of {} builds", builds.len())
            }
        ))
    })
}

/// Where a pattern may start: the address, then earlier instruction boundaries from which
/// decoding lands on the address, nearest first.
fn starts(code: &CodeSegments, address: u64, max_before: usize) -> Vec<u64> {
    let mut out = vec![address];
    for back in 1..=max_before as u64 {
        let Some(from) = address.checked_sub(back) else {
            break;
        };
        let Some(bytes) = code.bytes_from(from) else {
            continue;
        };
        let mut decoder = Decoder::with_ip(code.bitness, bytes, from, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        while decoder.ip() < address && decoder.can_decode() {
            decoder.decode_out(&mut ins);
            if ins.is_invalid() {
                break;
            }
        }
        if decoder.ip() == address && !ins.is_invalid() {
            out.push(from);
        }
    }
    out
}

/// The instructions from `start` as masked bytes, at most `max_bytes` of them, and the pattern
/// length at the end of each instruction.
fn masked_code(
    code: &CodeSegments,
    start: u64,
    max_bytes: usize,
) -> (Vec<u8>, Vec<u8>, Vec<usize>) {
    let bytes = code.bytes_from(start).unwrap_or_default();
    let mut decoder = Decoder::with_ip(code.bitness, bytes, start, DecoderOptions::NONE);
    let (mut out, mut mask, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    let mut ins = Instruction::default();
    while out.len() < max_bytes && decoder.can_decode() {
        let at = decoder.position();
        decoder.decode_out(&mut ins);
        if ins.is_invalid() {
            break;
        }
        let raw = &bytes[at..at + ins.len()];
        let mut m = vec![0xffu8; raw.len()];
        let offsets = decoder.get_constant_offsets(&ins);
        let value = |off: usize, size: usize| {
            let mut word = [0u8; 8];
            word[..size].copy_from_slice(&raw[off..off + size]);
            u64::from_le_bytes(word)
        };
        let mut wildcard = |off: usize, size: usize| m[off..off + size].fill(0);
        if offsets.has_displacement() {
            let (off, size) = (offsets.displacement_offset(), offsets.displacement_size());
            let absolute = ins.memory_base() == iced_x86::Register::None
                && ins.memory_index() == iced_x86::Register::None;
            if ins.is_ip_rel_memory_operand()
                || (size >= 4 && (absolute || code.relocates(value(off, size))))
            {
                wildcard(off, size);
            }
        }
        let branch = branch_target(&ins).is_some();
        for (has, off, size) in [
            (
                offsets.has_immediate(),
                offsets.immediate_offset(),
                offsets.immediate_size(),
            ),
            (
                offsets.has_immediate2(),
                offsets.immediate_offset2(),
                offsets.immediate_size2(),
            ),
        ] {
            if has && (branch || (size >= 4 && code.relocates(value(off, size)))) {
                wildcard(off, size);
            }
        }
        let keep = (max_bytes - out.len()).min(raw.len());
        out.extend_from_slice(&raw[..keep]);
        mask.extend_from_slice(&m[..keep]);
        ends.push(out.len());
    }
    (out, mask, ends)
}

/// The shortest pattern from `start` unique in every build, with its instruction count and
/// where it starts in each build; or the match counts of the longest pattern tried. A pattern
/// starting before `address` covers the instruction there too: bytes between the pattern's
/// end and the address would be unchecked, and could differ in another build.
fn shortest_from(
    builds: &[CodeSegments],
    start: u64,
    address: u64,
    max_bytes: usize,
) -> std::result::Result<(BytePattern, usize, Vec<u64>), Vec<usize>> {
    let (bytes, mask, ends) = masked_code(&builds[0], start, max_bytes);
    let before = (address - start) as usize;
    let min_len = match before {
        0 => 1,
        _ => match ends.iter().find(|&&e| e > before) {
            Some(&end) => end,
            None => return Err(vec![0; builds.len()]),
        },
    };
    let pattern = |len: usize| BytePattern::with_mask(bytes[..len].to_vec(), mask[..len].to_vec());
    let Some(&first_end) = ends.first() else {
        return Err(vec![0; builds.len()]);
    };
    let Ok(first) = pattern(first_end) else {
        return Err(vec![0; builds.len()]);
    };
    // Matches only shrink as the pattern grows: search once, then filter.
    let mut candidates: Vec<Vec<u64>> = builds.iter().map(|b| b.find(&first)).collect();
    for (n, &end) in ends.iter().enumerate() {
        let Ok(p) = pattern(end) else { continue };
        let narrowed: Vec<Vec<u64>> = narrow(builds, &candidates, &p);
        if end >= min_len && narrowed.iter().all(|c| c.len() == 1) {
            // Unique at this instruction: cut bytes off its end while it stays unique.
            let from = if n == 0 { 1 } else { ends[n - 1] + 1 }.max(min_len);
            let mut best = (p, narrowed);
            for len in (from..end).rev() {
                if mask[len - 1] == 0 {
                    continue; // never end on a wildcard
                }
                let Ok(shorter) = pattern(len) else { break };
                // `candidates` hold the matches of the instructions before this one: a superset
                // for any cut inside it. Within the first instruction, search afresh.
                let c = if n == 0 {
                    builds.iter().map(|b| b.find(&shorter)).collect()
                } else {
                    narrow(builds, &candidates, &shorter)
                };
                if !c.iter().all(|c| c.len() == 1) {
                    break;
                }
                best = (shorter, c);
            }
            let found = best.1.iter().map(|c| c[0]).collect();
            return Ok((best.0, n + 1, found));
        }
        if narrowed.iter().any(|c| c.is_empty()) {
            return Err(narrowed.iter().map(Vec::len).collect());
        }
        candidates = narrowed;
    }
    Err(candidates.iter().map(Vec::len).collect())
}

/// The candidates of each build where `pattern` still matches.
fn narrow(
    builds: &[CodeSegments],
    candidates: &[Vec<u64>],
    pattern: &BytePattern,
) -> Vec<Vec<u64>> {
    builds
        .iter()
        .zip(candidates)
        .map(|(b, c)| {
            c.iter()
                .copied()
                .filter(|&a| b.bytes_from(a).is_some_and(|w| pattern.matches_at(w)))
                .collect()
        })
        .collect()
}

/// Every address in module `module` of `process` where `pattern` starts.
pub fn find_signature(process: &Process, module: &str, pattern: &BytePattern) -> Result<Vec<u64>> {
    Ok(CodeSegments::of_module_named(process, module)?.find(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module at `base` holding `code` at `base + at`, in a sea of `fill` bytes.
    fn build(base: u64, at: usize, code: &[u8], fill: u8) -> CodeSegments {
        let mut bytes = vec![fill; 0x1000];
        bytes[at..at + code.len()].copy_from_slice(code);
        CodeSegments {
            name: "game".into(),
            base,
            segments: vec![(base, bytes)],
            bitness: 64,
            relocatable: vec![(base, base + 0x1000)],
        }
    }

    // mov rax, [rip+disp32]; mov [rax+0x10], ebx; call rel32; mov edi, imm32 (an address); ret
    fn code(disp: u32, call: u32, imm: u32) -> Vec<u8> {
        let mut c = vec![0x48, 0x8b, 0x05];
        c.extend(disp.to_le_bytes());
        c.extend([0x89, 0x58, 0x10, 0xe8]);
        c.extend(call.to_le_bytes());
        c.push(0xbf);
        c.extend(imm.to_le_bytes());
        c.push(0xc3);
        c
    }

    #[test]
    fn addresses_in_the_code_are_wildcards_and_the_rest_is_kept() {
        let b = build(0x40_0000, 0x100, &code(0x200, 0x50, 0x40_0800), 0xcc);
        let (bytes, mask, ends) = masked_code(&b, 0x40_0100, 64);
        assert_eq!(ends[..5], [7, 10, 15, 20, 21]);
        let fixed: Vec<bool> = mask[..21].iter().map(|&m| m == 0xff).collect();
        let mut expect = vec![true; 21];
        for i in (3..7).chain(11..15).chain(16..20) {
            expect[i] = false;
        }
        assert_eq!(fixed, expect);
        assert_eq!(&bytes[7..10], &[0x89, 0x58, 0x10]);
        // A small immediate is data, not an address: kept.
        let b = build(0x40_0000, 0x100, &code(0x200, 0x50, 7), 0xcc);
        let (_, mask, _) = masked_code(&b, 0x40_0100, 64);
        assert!(mask[16..20].iter().all(|&m| m == 0xff));
    }

    #[test]
    fn the_shortest_unique_pattern_is_found_and_resolves_in_a_moved_build() {
        let one = build(0x40_0000, 0x100, &code(0x200, 0x50, 0x40_0800), 0xcc);
        // The next build: code inserted before it, different displacements and targets.
        let two = build(0x40_0000, 0x180, &code(0x3f0, 0x90, 0x40_0900), 0xcc);
        let sig = signature_across(&[one, two], 0x40_0107, SignatureOptions::default()).unwrap();
        assert_eq!(sig.found, vec![0x40_0107, 0x40_0187]);
        assert_eq!(sig.offset, 0);
        // `89` alone is unique in a sea of int3.
        assert_eq!(sig.pattern.to_string(), "89");
        assert_eq!(sig.expression(), "sig:game:89");
        // A pattern that repeats is extended until it is unique.
        let mut twice = code(0x200, 0x50, 0x40_0800);
        twice.extend(&code(0x200, 0x50, 0x40_0800)[..10]);
        let b = build(0x40_0000, 0x100, &twice, 0xcc);
        let sig = signature_across(
            std::slice::from_ref(&b),
            0x40_0100,
            SignatureOptions::default(),
        )
        .unwrap();
        assert_eq!(b.find(&sig.pattern), vec![0x40_0100]);
        assert!(sig.instructions >= 3, "{sig:?}");
    }

    #[test]
    fn a_cut_inside_the_first_instruction_counts_every_match() {
        // `89 58 10` once, and `89 58` elsewhere: the signature must keep the `10`.
        let mut bytes = code(0x200, 0x50, 7);
        bytes.extend([0x89, 0x58, 0x20, 0xcc, 0x89, 0x48, 0x10]);
        let b = build(0x40_0000, 0x100, &bytes, 0xcc);
        let sig = signature_across(
            std::slice::from_ref(&b),
            0x40_0107,
            SignatureOptions::default(),
        )
        .unwrap();
        assert_eq!(sig.pattern.to_string(), "89 58 10");
        assert_eq!(b.find(&sig.pattern), vec![0x40_0107]);
    }

    #[test]
    fn a_pattern_starting_before_the_address_covers_it() {
        // The address's own bytes repeat; the instruction before them is unique, so the pattern
        // starts there, and must still reach through the address.
        let bytes = [0x48, 0x8b, 0x05, 1, 2, 3, 4, 0x89, 0x58, 0x10];
        let mut b = build(0x40_0000, 0x100, &bytes, 0xcc);
        b.segments[0].1[0x800..0x803].copy_from_slice(&[0x89, 0x58, 0x10]);
        let options = SignatureOptions {
            max_bytes: 12,
            max_before: 64,
        };
        let sig = signature_across(std::slice::from_ref(&b), 0x40_0107, options).unwrap();
        assert!(sig.offset > 0, "{sig:?}");
        assert!(sig.pattern.len() as u64 >= sig.offset + 3, "{sig:?}");
        // A build where other bytes lie between: the signature does not land there.
        let other = [0x48, 0x8b, 0x05, 1, 2, 3, 4, 0x90, 0x89, 0x58, 0x10];
        let o = build(0x40_0000, 0x200, &other, 0xcc);
        let across = signature_across(&[b, o], 0x40_0107, options);
        assert!(across.is_err(), "{across:?}");
    }

    #[test]
    fn a_pattern_that_is_never_unique_is_an_error() {
        let mut same = code(0x200, 0x50, 7);
        same.extend(code(0x200, 0x50, 7));
        let mut bytes = Vec::new();
        for _ in 0..4 {
            bytes.extend(&same);
        }
        let b = build(0x40_0000, 0x100, &bytes, 0xcc);
        let options = SignatureOptions {
            max_bytes: 16,
            max_before: 0,
        };
        let e = signature_across(&[b], 0x40_0100 + 21, options).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    }
}
