//! Byte patterns with `??` wildcards ("array of bytes"), and a fast search for them.

use memchr::memmem;

use crate::error::{Error, Result};

/// A byte pattern where some positions match any byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytePattern {
    bytes: Vec<u8>,
    /// `true` where the byte must match; `false` for a wildcard.
    fixed: Vec<bool>,
    /// The longest run of fixed bytes: searched with memmem, then the rest is verified.
    anchor: (usize, usize),
}

impl BytePattern {
    /// Builds a pattern from bytes and a per-byte "must match" mask.
    pub fn new(bytes: Vec<u8>, fixed: Vec<bool>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::invalid_argument("empty byte pattern"));
        }
        if bytes.len() != fixed.len() {
            return Err(Error::invalid_argument(
                "pattern bytes and mask differ in length",
            ));
        }
        let anchor = longest_fixed_run(&fixed)
            .ok_or_else(|| Error::invalid_argument("byte pattern has only wildcards"))?;
        Ok(Self {
            bytes,
            fixed,
            anchor,
        })
    }

    /// A pattern with every byte fixed (a plain byte string).
    pub fn exact(bytes: &[u8]) -> Result<Self> {
        Self::new(bytes.to_vec(), vec![true; bytes.len()])
    }

    /// Parses hex such as `"DE AD ?? EF"` or `"dead??ef"`; `?` or `??` is a wildcard byte.
    pub fn parse_hex(text: &str) -> Result<Self> {
        let compact: Vec<char> = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ',')
            .collect();
        let tokens: Vec<String> = if text.split_whitespace().count() > 1 {
            text.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            if compact.len() % 2 != 0 {
                return Err(Error::invalid_argument(format!(
                    "pattern {text:?} has an odd number of hex digits; separate bytes with spaces"
                )));
            }
            compact.chunks(2).map(|c| c.iter().collect()).collect()
        };
        let mut bytes = Vec::with_capacity(tokens.len());
        let mut fixed = Vec::with_capacity(tokens.len());
        for tok in &tokens {
            let tok = tok.trim_start_matches("0x");
            if tok == "?" || tok == "??" {
                bytes.push(0);
                fixed.push(false);
            } else if tok.len() <= 2 && !tok.is_empty() {
                let b = u8::from_str_radix(tok, 16).map_err(|_| {
                    Error::invalid_argument(format!("bad hex byte {tok:?} in pattern {text:?}"))
                })?;
                bytes.push(b);
                fixed.push(true);
            } else {
                return Err(Error::invalid_argument(format!(
                    "bad hex byte {tok:?} in pattern {text:?}"
                )));
            }
        }
        Self::new(bytes, fixed)
    }

    /// Pattern length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a pattern has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The pattern bytes (wildcard positions hold 0).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The "must match" mask.
    pub fn fixed(&self) -> &[bool] {
        &self.fixed
    }

    /// True if `window` (at least `len()` bytes) matches at its start.
    pub fn matches_at(&self, window: &[u8]) -> bool {
        window.len() >= self.len()
            && self
                .bytes
                .iter()
                .zip(&self.fixed)
                .zip(window)
                .all(|((p, f), w)| !f || p == w)
    }

    /// Offsets in `hay` where the pattern starts, limited to starts below `start_limit`.
    pub fn find_all(&self, hay: &[u8], start_limit: usize, mut on_match: impl FnMut(usize)) {
        let (a0, a1) = self.anchor;
        let finder = memmem::Finder::new(&self.bytes[a0..a1]);
        for anchor_pos in finder.find_iter(hay) {
            let Some(start) = anchor_pos.checked_sub(a0) else {
                continue;
            };
            if start >= start_limit {
                break;
            }
            if self.matches_at(&hay[start..]) {
                on_match(start);
            }
        }
    }
}

fn longest_fixed_run(fixed: &[bool]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < fixed.len() {
        if fixed[i] {
            let s = i;
            while i < fixed.len() && fixed[i] {
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
        assert_eq!(a.fixed(), &[true, true, false, true]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(BytePattern::parse_hex("").is_err());
        assert!(BytePattern::parse_hex("?? ??").is_err());
        assert!(BytePattern::parse_hex("GG").is_err());
        assert!(BytePattern::parse_hex("ABC").is_err());
        assert!(BytePattern::parse_hex("12 345").is_err());
    }

    #[test]
    fn finds_with_wildcards() {
        let p = BytePattern::parse_hex("?? 01 ?? 03").unwrap();
        let hay = [9, 0, 1, 2, 3, 0, 1, 7, 3, 1];
        let mut hits = vec![];
        p.find_all(&hay, hay.len(), |i| hits.push(i));
        assert_eq!(hits, vec![1, 5]);
    }
}
