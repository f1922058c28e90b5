//! Pointer chains: one owned [`Chain`], and the [`ChainList`] a search returns, column by
//! column (no allocation per chain; the columns become an Arrow table as they are).

use crate::region::ModuleRef;

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
        let mut e = String::new();
        write_expression(&self.module, self.base_offset, &self.offsets, &mut e);
        e
    }
}

/// Chains in columns: chain `i` starts in `modules[module[i]]` at `base_offset[i]` and adds
/// `offsets[ends[i - 1]..ends[i]]` (from 0 for the first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainList {
    /// The modules the bases lie in, each once.
    pub modules: Vec<ModuleRef>,
    pub module: Vec<u32>,
    pub base_offset: Vec<u64>,
    pub offsets: Vec<i64>,
    pub ends: Vec<usize>,
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
        self.ends.push(self.offsets.len());
    }

    /// The offsets of chain `i`.
    pub fn offsets_of(&self, i: usize) -> &[i64] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.offsets[start..self.ends[i]]
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

    /// Appends chain `i`'s address expression to `out` (one buffer for many chains).
    pub fn write_expression(&self, i: usize, out: &mut String) {
        write_expression(
            self.module_of(i),
            self.base_offset[i],
            self.offsets_of(i),
            out,
        );
    }
}

/// Writes `[[module+base]+o1]+o2...` to `out`; a module name that could be read as a number or
/// as part of an expression is quoted.
fn write_expression(module: &ModuleRef, base_offset: u64, offsets: &[i64], out: &mut String) {
    use std::fmt::Write;
    let name = module.name();
    let quoted = name.chars().all(|c| c.is_ascii_hexdigit())
        || name.contains(['+', '-', '[', ']', ' ', '"']);
    out.extend(std::iter::repeat_n('[', offsets.len()));
    if quoted {
        let _ = write!(out, "\"{name}\"+{base_offset:x}");
    } else {
        let _ = write!(out, "{name}+{base_offset:x}");
    }
    for o in offsets {
        let _ = if *o < 0 {
            write!(out, "]-{:x}", o.unsigned_abs())
        } else {
            write!(out, "]+{o:x}")
        };
    }
}
