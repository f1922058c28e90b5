//! A watch's hits as an Arrow table: each hit with the instruction behind it (decoded once per
//! instruction pointer), its module, module offset and symbol, and the values involved.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, PrimitiveArray, RecordBatch, TimestampNanosecondArray, UInt32Array, UInt64Array,
    UInt8Array,
};
use arrow_schema::ArrowError;

use super::instruction::{decode_at, decode_before, Decoded, MAX_LEN};
use super::{BreakpointKind, BreakpointSpec, Hits};
use crate::modules::Symbols;
use crate::process::Process;
use crate::region::Region;
use crate::value::{dispatch, Scalar, ValueType};

/// Where an instruction lives: module, offset from its load base, symbol.
#[derive(Debug, Clone, Default)]
struct Place {
    module: Option<String>,
    module_offset: Option<u64>,
    symbol: Option<String>,
}

impl Place {
    /// `libc.so.6!memcpy+0x1a`, `game+0x1234`, or `0x7f...`.
    fn location(&self, address: u64) -> String {
        match (&self.module, self.module_offset, &self.symbol) {
            (Some(m), _, Some(s)) => format!("{m}!{s}"),
            (Some(m), Some(o), None) => format!("{m}+{o:#x}"),
            _ => format!("{address:#x}"),
        }
    }
}

/// Resolves instructions and places for the hits of one watch, caching per address.
struct Report<'a> {
    process: &'a Process,
    regions: Vec<Region>,
    symbols: HashMap<Arc<str>, Symbols>,
}

impl<'a> Report<'a> {
    fn new(process: &'a Process) -> Self {
        Self {
            process,
            regions: process.regions().unwrap_or_default(),
            symbols: HashMap::new(),
        }
    }

    fn region(&self, addr: u64) -> Option<&Region> {
        let i = self.regions.partition_point(|r| r.end <= addr);
        self.regions.get(i).filter(|r| r.start <= addr)
    }

    /// The instruction behind a hit at `ip` on `spec`.
    fn instruction(
        &self,
        spec: &BreakpointSpec,
        ip: u64,
        registers: Option<&[u64; super::REGISTERS]>,
    ) -> Option<Decoded> {
        if spec.kind == BreakpointKind::Execute {
            let end = self.region(ip)?.end.min(ip + MAX_LEN as u64);
            let code = self.process.read(ip, (end - ip) as usize).ok()?;
            return decode_at(&code, ip, ip);
        }
        let start = self
            .region(ip.checked_sub(1)?)?
            .start
            .max(ip.saturating_sub(MAX_LEN as u64));
        let code = self.process.read(start, (ip - start) as usize).ok()?;
        decode_before(&code, start, ip, (spec.address, spec.len), registers)
    }

    fn place(&mut self, addr: u64) -> Place {
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

/// A column of `len`-byte values held in u64s, as `ty` when its size is `len`, else as u64.
fn values_array(values: &[Option<u64>], ty: Option<ValueType>, len: u64) -> ArrayRef {
    match ty.filter(|t| t.size() as u64 == len) {
        Some(ty) => dispatch!(ty, T => {
            let a: PrimitiveArray<<T as Scalar>::ArrowType> = values
                .iter()
                .map(|v| v.map(|v| T::read_ne(&v.to_ne_bytes())))
                .collect();
            Arc::new(a) as ArrayRef
        }),
        None => Arc::new(values.iter().copied().collect::<UInt64Array>()),
    }
}

/// One row per hit: time, tid, watch (index), address (watched), ip, instruction_address,
/// module, module_offset, symbol, location, bytes, disassembly, value (read as the hit was
/// processed), stored_value (a `mov` store's source, from the sampled registers). Values are
/// `value_type` when it is given and as long as the watchpoints, else u64.
pub fn hits_batch(
    process: &Process,
    specs: &[BreakpointSpec],
    hits: &Hits,
    value_type: Option<ValueType>,
) -> Result<RecordBatch, ArrowError> {
    let mut report = Report::new(process);
    let mut resolved: HashMap<(u8, u64), (Option<Decoded>, Place)> = HashMap::new();
    for i in 0..hits.len() {
        let key = (hits.watch[i], hits.ip[i]);
        if let std::collections::hash_map::Entry::Vacant(slot) = resolved.entry(key) {
            let spec = &specs[key.0 as usize];
            let ins = report.instruction(spec, key.1, hits.registers[i].as_ref());
            let place = report.place(ins.as_ref().map_or(key.1, |d| d.address));
            slot.insert((ins, place));
        }
    }
    let n = hits.len();
    let mut instruction_address = Vec::with_capacity(n);
    let mut module = StringBuilder::new();
    let mut module_offset = Vec::with_capacity(n);
    let mut symbol = StringBuilder::new();
    let mut location = StringBuilder::new();
    let mut bytes = BinaryBuilder::new();
    let mut text = StringBuilder::new();
    let mut stored = Vec::with_capacity(n);
    let mut value = Vec::with_capacity(n);
    for i in 0..n {
        let spec = &specs[hits.watch[i] as usize];
        let (ins, place) = &resolved[&(hits.watch[i], hits.ip[i])];
        let at = ins.as_ref().map(|d| d.address);
        instruction_address.push(at);
        module.append_option(place.module.as_deref());
        module_offset.push(place.module_offset);
        symbol.append_option(place.symbol.as_deref());
        location.append_value(place.location(at.unwrap_or(hits.ip[i])));
        bytes.append_option(ins.as_ref().map(|d| &d.bytes[..]));
        text.append_option(ins.as_ref().map(|d| d.text.as_str()));
        let len = if spec.kind == BreakpointKind::Execute {
            8
        } else {
            spec.len
        };
        let mask = if len >= 8 {
            u64::MAX
        } else {
            (1 << (8 * len)) - 1
        };
        stored.push(
            ins.as_ref()
                .and_then(|d| d.source)
                .filter(|_| spec.kind != BreakpointKind::Execute)
                .and_then(|s| s.value(hits.registers[i].as_ref()))
                .map(|v| v & mask),
        );
        // An execute watch has no data value (the bytes there are code).
        value.push(
            hits.value[i]
                .filter(|_| spec.kind != BreakpointKind::Execute)
                .map(|v| v & mask),
        );
    }
    let len = specs.first().map_or(8, |s| s.len);
    let watched: Vec<u64> = hits
        .watch
        .iter()
        .map(|&w| specs[w as usize].address)
        .collect();
    RecordBatch::try_from_iter([
        (
            "time",
            Arc::new(TimestampNanosecondArray::from(hits.time_ns.clone())) as ArrayRef,
        ),
        ("tid", Arc::new(UInt32Array::from(hits.tid.clone()))),
        ("watch", Arc::new(UInt8Array::from(hits.watch.clone()))),
        ("address", Arc::new(UInt64Array::from(watched))),
        ("ip", Arc::new(UInt64Array::from(hits.ip.clone()))),
        (
            "instruction_address",
            Arc::new(UInt64Array::from(instruction_address)),
        ),
        ("module", Arc::new(module.finish())),
        ("module_offset", Arc::new(UInt64Array::from(module_offset))),
        ("symbol", Arc::new(symbol.finish())),
        ("location", Arc::new(location.finish())),
        ("bytes", Arc::new(bytes.finish())),
        ("disassembly", Arc::new(text.finish())),
        ("value", values_array(&value, value_type, len)),
        ("stored_value", values_array(&stored, value_type, len)),
    ])
}
