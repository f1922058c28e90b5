//! Byte patterns with wildcards ("array of bytes", AOB): `??` matches any byte, `4?` and `?8`
//! match one nibble (a register field in a ModRM byte), and a fast search for them.

use std::fmt;

use memchr::memmem;

use crate::error::{Error, Result};

/// A byte pattern where some bits match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytePattern {
    /// The pattern bytes, zero where the mask is zero.
    bytes: Vec<u8>,
    /// Per byte, the bits that must match: `0xFF` a fixed byte, `0x00` a wildcard, `0xF0` or
    /// `0x0F` a nibble.
    mask: Vec<u8>,
    /// The longest run of fixed bytes: searched with memmem, then the rest is verified.
    anchor: (usize, usize),
}

impl BytePattern {
    /// Builds a pattern from bytes and a per-byte "must match" mask (`0xFF` fixed, `0` wildcard,
    /// `0xF0`/`0x0F` one nibble).
    pub fn with_mask(bytes: Vec<u8>, mask: Vec<u8>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::invalid_argument("empty byte pattern"));
        }
        if bytes.len() != mask.len() {
            return Err(Error::invalid_argument(
                "pattern bytes and mask differ in length",
            ));
        }
        if let Some(m) = mask.iter().find(|m| ![0, 0x0f, 0xf0, 0xff].contains(*m)) {
            return Err(Error::invalid_argument(format!(
                "pattern mask byte {m:#04x}: each byte is fixed (0xff), a wildcard (0) or one \
                 nibble (0xf0, 0x0f)"
            )));
        }
        let anchor = longest_fixed_run(&mask)
            .ok_or_else(|| Error::invalid_argument("byte pattern has no fixed byte"))?;
        let bytes = bytes.iter().zip(&mask).map(|(b, m)| b & m).collect();
        Ok(Self {
            bytes,
            mask,
            anchor,
        })
    }

    /// Builds a pattern from bytes and a per-byte "must match" flag.
    pub fn new(bytes: Vec<u8>, fixed: Vec<bool>) -> Result<Self> {
        let mask = fixed.iter().map(|&f| if f { 0xff } else { 0 }).collect();
        Self::with_mask(bytes, mask)
    }

    /// A pattern with every byte fixed (a plain byte string).
    pub fn exact(bytes: &[u8]) -> Result<Self> {
        Self::with_mask(bytes.to_vec(), vec![0xff; bytes.len()])
    }

    /// Parses hex such as `"DE AD ?? EF"`, `"dead??ef"`, `"0xDE,0xAD"` or `"48 8B 4? 10"`:
    /// tokens separated by whitespace or commas, each an optional `0x` and then pairs of hex
    /// digits, `??` (a wildcard byte), or a digit and `?` (one nibble fixed). Anything else (a
    /// lone digit, a lone `?`, a sign) is an error.
    pub fn parse_hex(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid_argument(format!("bad hex pattern {text:?}: {why}"));
        let mut bytes = Vec::new();
        let mut mask = Vec::new();
        for token in text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
        {
            let digits = token
                .strip_prefix("0x")
                .or_else(|| token.strip_prefix("0X"))
                .unwrap_or(token)
                .as_bytes();
            if digits.is_empty() || digits.len() % 2 != 0 {
                return Err(bad(&format!(
                    "{token:?} is not a whole number of bytes (two hex digits or ? each)"
                )));
            }
            for pair in digits.chunks(2) {
                let nibble = |c: u8| match c {
                    b'?' => Some((0, 0)),
                    _ => (c as char).to_digit(16).map(|d| (d as u8, 0x0f)),
                };
                let ((hi, hi_mask), (lo, lo_mask)) = nibble(pair[0])
                    .zip(nibble(pair[1]))
                    .ok_or_else(|| bad(&format!("{token:?} holds a non-hex digit")))?;
                bytes.push(hi << 4 | lo);
                mask.push(hi_mask << 4 | lo_mask);
            }
        }
        Self::with_mask(bytes, mask)
    }

    /// Pattern length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a pattern has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The pattern bytes (bits outside the mask hold 0).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Per byte, the bits that must match.
    pub fn mask(&self) -> &[u8] {
        &self.mask
    }

    /// True if every byte the pattern can match is zero (it matches untouched memory).
    pub fn matches_zeros(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }

    /// True if `window` (at least `len()` bytes) matches at its start.
    pub fn matches_at(&self, window: &[u8]) -> bool {
        window.len() >= self.len()
            && self
                .bytes
                .iter()
                .zip(&self.mask)
                .zip(window)
                .all(|((p, m), w)| w & m == *p)
    }

    /// Offsets in `hay` where the pattern starts, limited to starts below `start_limit`;
    /// overlapping occurrences are all reported (`"aa"` occurs 3 times in `"aaaa"`).
    pub fn find_all(&self, hay: &[u8], start_limit: usize, mut on_match: impl FnMut(usize)) {
        let (a0, a1) = self.anchor;
        let finder = memmem::Finder::new(&self.bytes[a0..a1]);
        // memmem's iterator skips past each match; restart one byte after each instead.
        let mut from = a0;
        while let Some(found) = finder.find(&hay[from.min(hay.len())..]) {
            let anchor_pos = from + found;
            let start = anchor_pos - a0;
            if start >= start_limit {
                break;
            }
            if self.matches_at(&hay[start..]) {
                on_match(start);
            }
            from = anchor_pos + 1;
        }
    }
}

/// The canonical form: upper-case hex bytes separated by spaces, `?` for each free nibble
/// (`48 8B 4? ?? 10`); [`BytePattern::parse_hex`] reads it back.
impl fmt::Display for BytePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (&b, &m)) in self.bytes.iter().zip(&self.mask).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for (shift, nibble_mask) in [(4, 0xf0), (0, 0x0f)] {
                if m & nibble_mask == 0 {
                    f.write_str("?")?;
                } else {
                    write!(f, "{:X}", (b >> shift) & 0x0f)?;
                }
            }
        }
        Ok(())
    }
}

fn longest_fixed_run(mask: &[u8]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < mask.len() {
        if mask[i] == 0xff {
            let s = i;
            while i < mask.len() && mask[i] == 0xff {
                i += 1;
            }
            if best.is_none_or(|(b0, b1)| i - s > b1 - b0) {
                best = Some((s, i));
            }
        } else {
            i += 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spaced_and_compact() {
        let a = BytePattern::parse_hex("DE AD ?? EF").unwrap();
        let b = BytePattern::parse_hex("dead??ef").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.bytes(), &[0xde, 0xad, 0, 0xef]);
        assert_eq!(a.mask(), &[0xff, 0xff, 0, 0xff]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(BytePattern::parse_hex("").is_err());
        assert!(BytePattern::parse_hex("?? ??").is_err());
        assert!(BytePattern::parse_hex("GG").is_err());
        assert!(BytePattern::parse_hex("ABC").is_err());
        assert!(BytePattern::parse_hex("12 345").is_err());
        for bad in ["4D 5", "0x0x4D 53", "+4", "4D ?", "-1", "4G", "G?"] {
            assert!(BytePattern::parse_hex(bad).is_err(), "{bad:?} was accepted");
        }
        let p = BytePattern::parse_hex("0x4D,0x5A 9000").unwrap();
        assert_eq!(p.bytes(), &[0x4d, 0x5a, 0x90, 0]);
    }

    #[test]
    fn finds_overlapping_occurrences() {
        let mut hits = vec![];
        let p = BytePattern::exact(b"aa").unwrap();
        p.find_all(b"aaaa", 4, |i| hits.push(i));
        assert_eq!(hits, vec![0, 1, 2]);
        let mut hits = vec![];
        let p = BytePattern::parse_hex("?? 61 61").unwrap();
        p.find_all(b"xaaaa", 5, |i| hits.push(i));
        assert_eq!(hits, vec![0, 1, 2]);
    }

    #[test]
    fn finds_with_wildcards() {
        let p = BytePattern::parse_hex("?? 01 ?? 03").unwrap();
        let hay = [9, 0, 1, 2, 3, 0, 1, 7, 3, 1];
        let mut hits = vec![];
        p.find_all(&hay, hay.len(), |i| hits.push(i));
        assert_eq!(hits, vec![1, 5]);
    }

    #[test]
    fn nibbles_match_half_a_byte_and_print_back() {
        let p = BytePattern::parse_hex("48 8B 4? ?3 ??").unwrap();
        assert_eq!(p.mask(), &[0xff, 0xff, 0xf0, 0x0f, 0]);
        assert_eq!(p.to_string(), "48 8B 4? ?3 ??");
        assert_eq!(BytePattern::parse_hex(&p.to_string()).unwrap(), p);
        assert!(p.matches_at(&[0x48, 0x8b, 0x4d, 0xa3, 0x77]));
        assert!(!p.matches_at(&[0x48, 0x8b, 0x5d, 0xa3, 0x77]));
        assert!(!p.matches_at(&[0x48, 0x8b, 0x4d, 0xa4, 0x77]));
        assert!(
            BytePattern::parse_hex("?? ?3").is_err(),
            "no whole fixed byte to anchor on"
        );
    }
}
