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
                if off == 0 {
                    name.to_owned()
                } else {
                    format!("{name}+{off:#x}")
                }
            }),
        }
    }
}
