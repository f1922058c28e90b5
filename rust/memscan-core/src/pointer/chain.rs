//! Pointer chains: one owned [`Chain`], and the [`ChainList`] a search returns, column by
//! column (no allocation per chain; the columns become an Arrow table as they are).

use crate::region::ModuleRef;

/// Where a search hands each batch of chains as it finds them.
pub type ChainSink<'a> = &'a mut dyn FnMut(ChainList) -> crate::error::Result<()>;

/// A chain: read a pointer at `module.base + base_offset`, add `offsets[0]`, read a pointer
/// there, ..., add the last offset: the target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    pub module: ModuleRef,
    pub base_offset: u64,
    pub offsets: Vec<i64>,
}

impl Chain {
    /// The chain as an address expression: `[[game+4140]+10]+8`.
    pub fn expression(&self) -> String {
        let mut list = ChainList::default();
        let module = list.module_index(&self.module);
        list.push(module, self.base_offset, &self.offsets);
        let (text, _) = list.expressions();
        text
    }
}

/// Chains in columns: chain `i` starts in `modules[module[i]]` at `base_offset[i]` and adds
/// `offsets[bounds[i]..bounds[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainList {
    /// The modules the bases lie in, each once.
    pub modules: Vec<ModuleRef>,
    pub module: Vec<u32>,
    pub base_offset: Vec<u64>,
    pub offsets: Vec<i64>,
    /// Where each chain's offsets begin, then where the last one's end (from 0: an Arrow
    /// list's offsets as they are).
    pub bounds: Vec<i64>,
}

impl Default for ChainList {
    fn default() -> Self {
        Self {
            modules: Vec::new(),
            module: Vec::new(),
            base_offset: Vec::new(),
            offsets: Vec::new(),
            bounds: vec![0],
        }
    }
}

impl ChainList {
    /// Number of chains.
    pub fn len(&self) -> usize {
        self.base_offset.len()
    }

    /// True when no chain was found.
    pub fn is_empty(&self) -> bool {
        self.base_offset.is_empty()
    }

    /// The index of `module` in `modules`, added on first use (a process has a few hundred
    /// modules at most: their bases are compared before their paths).
    pub fn module_index(&mut self, module: &ModuleRef) -> u32 {
        let known = self
            .modules
            .iter()
            .position(|m| m.base == module.base && m == module);
        known.unwrap_or_else(|| {
            self.modules.push(module.clone());
            self.modules.len() - 1
        }) as u32
    }

    /// Appends a chain from module `module` (an index from [`ChainList::module_index`]).
    pub fn push(&mut self, module: u32, base_offset: u64, offsets: &[i64]) {
        self.module.push(module);
        self.base_offset.push(base_offset);
        self.offsets.extend_from_slice(offsets);
        self.bounds.push(self.offsets.len() as i64);
    }

    /// Bytes held (the columns; the modules aside).
    pub fn bytes(&self) -> usize {
        self.len() * (4 + 8 + 8) + self.offsets.len() * 8
    }

    /// The offsets of chain `i`.
    pub fn offsets_of(&self, i: usize) -> &[i64] {
        &self.offsets[self.bounds[i] as usize..self.bounds[i + 1] as usize]
    }

    /// The module of chain `i`.
    pub fn module_of(&self, i: usize) -> &ModuleRef {
        &self.modules[self.module[i] as usize]
    }

    /// Chain `i` as an owned [`Chain`].
    pub fn get(&self, i: usize) -> Chain {
        Chain {
            module: self.module_of(i).clone(),
            base_offset: self.base_offset[i],
            offsets: self.offsets_of(i).to_vec(),
        }
    }

    /// Every chain as an owned [`Chain`].
    pub fn iter(&self) -> impl Iterator<Item = Chain> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Every chain's address expression, one after another in one text (sized exactly: a
    /// growing text would hold up to three times its size), and where each lies in it: module
    /// names are formatted once, numbers written without `fmt`.
    pub fn expressions(&self) -> (String, impl Iterator<Item = (usize, usize)> + '_) {
        let names: Vec<String> = self.modules.iter().map(module_term).collect();
        let len = |names: &[String], i: usize| {
            let offsets = self.offsets_of(i);
            let steps: usize = offsets.iter().map(|o| 3 + hex_len(o.unsigned_abs())).sum();
            names[self.module[i] as usize].len() + 1 + hex_len(self.base_offset[i]) + steps
        };
        let mut text = String::with_capacity((0..self.len()).map(|i| len(&names, i)).sum());
        for i in 0..self.len() {
            let offsets = self.offsets_of(i);
            text.extend(std::iter::repeat_n('[', offsets.len()));
            text.push_str(&names[self.module[i] as usize]);
            text.push('+');
            push_hex(&mut text, self.base_offset[i]);
            for &o in offsets {
                text.push_str(if o < 0 { "]-" } else { "]+" });
                push_hex(&mut text, o.unsigned_abs());
            }
        }
        let spans = (0..self.len()).scan(0, move |at, i| {
            let start = *at;
            *at += len(&names, i);
            Some((start, *at))
        });
        (text, spans)
    }
}

/// A module's name as an expression term: quoted when it could be read as a number or as part
/// of an expression.
fn module_term(module: &ModuleRef) -> String {
    let name = module.name();
    let quoted = name.chars().all(|c| c.is_ascii_hexdigit())
        || name.contains(['+', '-', '[', ']', ' ', '"']);
    if quoted {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

/// Digits of `v` in hexadecimal.
fn hex_len(v: u64) -> usize {
    (u64::BITS - v.leading_zeros()).div_ceil(4).max(1) as usize
}

/// Appends `v` in lower-case hexadecimal, no prefix.
fn push_hex(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    // SAFETY: ASCII digits keep the string valid UTF-8.
    unsafe { out.as_mut_vec() }.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_in_cheat_engine_notation() {
        let game = ModuleRef {
            path: "/opt/game".into(),
            base: 0x1000,
        };
        let hexlike = ModuleRef {
            path: "/opt/cafe".into(),
            base: 0x2000,
        };
        let mut list = ChainList::default();
        let (g, h) = (list.module_index(&game), list.module_index(&hexlike));
        list.push(g, 0x4140, &[0x10, -0x8]);
        list.push(h, 0, &[0]);
        list.push(g, u64::MAX, &[i64::MIN]);
        let (text, spans) = list.expressions();
        assert_eq!(text.capacity(), text.len());
        let each: Vec<&str> = spans.map(|(a, b)| &text[a..b]).collect();
        assert_eq!(
            each,
            [
                "[[game+4140]+10]-8",
                "[\"cafe\"+0]+0",
                "[game+ffffffffffffffff]-8000000000000000"
            ]
        );
        assert_eq!(list.get(0).expression(), "[[game+4140]+10]-8");
        assert_eq!(list.module_index(&game), g);
    }
}
