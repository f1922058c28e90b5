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

    /// Parses hex such as `"DE AD ?? EF"`, `"dead??ef"` or `"0xDE,0xAD"`: tokens separated by
    /// whitespace or commas, each an optional `0x` and then pairs of hex digits or `??`
    /// (a wildcard byte). Anything else (a lone digit, a lone `?`, a sign) is an error.
    pub fn parse_hex(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid_argument(format!("bad hex pattern {text:?}: {why}"));
        let mut bytes = Vec::new();
        let mut fixed = Vec::new();
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
                    "{token:?} is not a whole number of bytes (two hex digits or ?? each)"
                )));
            }
            for pair in digits.chunks(2) {
                if pair == b"??" {
                    bytes.push(0);
                    fixed.push(false);
                } else {
                    let byte = std::str::from_utf8(pair)
                        .ok()
                        .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                        .ok_or_else(|| bad(&format!("{token:?} holds a non-hex digit")))?;
                    bytes.push(byte);
                    fixed.push(true);
                }
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
        for bad in ["4D 5", "0x0x4D 53", "+4", "4D ?", "-1", "4G"] {
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
}
