//! Where an address lives: its module, offset from the module's load base, and the symbol
//! around it (`libc.so.6!memcpy+0x1a`), with each module's symbols parsed once.

use std::collections::HashMap;
use std::sync::Arc;

use crate::modules::Symbols;
use crate::process::Process;
use crate::region::Region;

/// An address's module, module offset and symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub module: Option<String>,
    pub module_offset: Option<u64>,
    pub symbol: Option<String>,
}

impl Place {
    /// `libc.so.6!memcpy+0x1a`, `game+0x1234`, or `0x7f...`.
    pub fn location(&self, address: u64) -> String {
        match (&self.module, self.module_offset, &self.symbol) {
            (Some(m), _, Some(s)) => format!("{m}!{s}"),
            (Some(m), Some(o), None) => format!("{m}+{o:#x}"),
            _ => format!("{address:#x}"),
        }
    }
}

/// A symbol as its source language writes it: Rust (`_native::demo_game::damage`, without
/// the hash) or C++ (`game::Player::hit(int)`); other names as they are.
pub fn demangle(name: &str) -> String {
    if let Ok(rust) = rustc_demangle::try_demangle(name) {
        return format!("{rust:#}");
    }
    if name.starts_with("_Z") {
        if let Ok(cpp) = cpp_demangle::Symbol::new(name) {
            if let Ok(text) = cpp.demangle() {
                return text;
            }
        }
    }
    name.to_owned()
}

/// Resolves places in one process against one region list, caching symbols per module.
pub struct Places<'a> {
    process: &'a Process,
    regions: Vec<Region>,
    symbols: HashMap<Arc<str>, Symbols>,
}

impl<'a> Places<'a> {
    /// Places against the process's regions now (none if they cannot be read).
    pub fn new(process: &'a Process) -> Self {
        Self::with_regions(process, process.regions().unwrap_or_default())
    }

    /// Places against `regions` (in address order).
    pub fn with_regions(process: &'a Process, regions: Vec<Region>) -> Self {
        Self {
            process,
            regions,
            symbols: HashMap::new(),
        }
    }

    /// The region holding `addr`.
    pub fn region(&self, addr: u64) -> Option<&Region> {
        let i = self.regions.partition_point(|r| r.end <= addr);
        self.regions.get(i).filter(|r| r.start <= addr)
    }

    /// The process these places are in.
    pub fn process(&self) -> &'a Process {
        self.process
    }

    /// Where `addr` lives.
    pub fn place(&mut self, addr: u64) -> Place {
        let Some(module) = self.region(addr).and_then(|r| r.module.clone()) else {
            return Place::default();
        };
        let offset = module.offset(addr);
        let (process, regions) = (self.process, &self.regions);
        let symbols = self.symbols.entry(module.path.clone()).or_insert_with(|| {
            process
                .module_file(regions, &module)
                .map(|f| Symbols::parse(&f))
                .unwrap_or_default()
        });
        Place {
            module: Some(module.name().to_owned()),
            module_offset: Some(offset),
            symbol: symbols.name(offset).map(|(name, off)| {
                let name = demangle(name);
                if off == 0 {
                    name
                } else {
                    format!("{name}+{off:#x}")
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn rust_and_cpp_names_read_as_written() {
        assert_eq!(
            demangle("_ZN7_native9demo_game6damage17h0123456789abcdefE"),
            "_native::demo_game::damage"
        );
        assert_eq!(demangle("_ZN4game6Player3hitEi"), "game::Player::hit(int)");
        assert_eq!(demangle("take_damage"), "take_damage");
        assert_eq!(demangle("_Zbroken"), "_Zbroken");
    }
}
