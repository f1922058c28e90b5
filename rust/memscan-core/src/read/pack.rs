//! LZ4 block compression where it pays (lz4_flex: pure Rust, no C toolchain): a probe of the
//! first 64 KiB tells random-looking data, left as it is at almost no cost, from data worth
//! compressing.

use crate::error::{Error, Result};

/// Bytes compressed first to tell whether the rest compresses at all.
const PROBE: usize = 64 << 10;

/// True if `packed` bytes for `raw` saves at least a sixteenth.
fn pays(raw: usize, packed: usize) -> bool {
    packed < raw - raw / 16
}

/// `bytes` compressed, if that pays (the result's allocation is exactly its length).
pub fn compress(bytes: &[u8]) -> Option<Box<[u8]>> {
    if bytes.len() > PROBE && !pays(PROBE, lz4_flex::block::compress(&bytes[..PROBE]).len()) {
        return None;
    }
    let packed = lz4_flex::block::compress(bytes);
    pays(bytes.len(), packed.len()).then(|| packed.into_boxed_slice())
}

/// Decompresses `packed` into `out`, which must be exactly as long as the original.
pub fn decompress_into(packed: &[u8], out: &mut [u8]) -> Result<()> {
    match lz4_flex::block::decompress_into(packed, out) {
        Ok(n) if n == out.len() => Ok(()),
        Ok(n) => Err(Error::Internal(format!(
            "a compressed block held {n} bytes, {} expected",
            out.len()
        ))),
        Err(e) => Err(Error::Internal(format!(
            "a compressed block is damaged: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_what_repeats_and_leaves_random_bytes() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 100).to_le_bytes())
            .collect();
        let packed = compress(&text).expect("repetitive data compresses");
        assert!(packed.len() < text.len() / 4);
        let mut out = vec![0; text.len()];
        decompress_into(&packed, &mut out).unwrap();
        assert_eq!(out, text);
        let mut x = 88172645463325252u64;
        let random: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(compress(&random).is_none());
        assert!(decompress_into(&packed, &mut out[1..]).is_err());
    }
}
