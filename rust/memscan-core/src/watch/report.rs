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

use super::{BreakpointKind, BreakpointSpec, Hits};
use crate::code::{decode_at, decode_before, effective_address, Decoded, Place, Places, MAX_LEN};
use crate::process::Process;
use crate::region::Region;
use crate::value::{dispatch, Scalar, ValueType};

/// Resolves instructions and places for the hits of one watch.
struct Report<'a> {
    places: Places<'a>,
}

impl<'a> Report<'a> {
    fn new(process: &'a Process) -> Self {
        Self {
            places: Places::new(process),
        }
    }

    fn region(&self, addr: u64) -> Option<&Region> {
        self.places.region(addr)
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
            let code = self.places.process().read(ip, (end - ip) as usize).ok()?;
            return decode_at(&code, ip, ip);
        }
        let start = self
            .region(ip.checked_sub(1)?)?
            .start
            .max(ip.saturating_sub(MAX_LEN as u64));
        let code = self
            .places
            .process()
            .read(start, (ip - start) as usize)
            .ok()?;
        decode_before(&code, start, ip, (spec.address, spec.len), registers)
    }

    fn place(&mut self, addr: u64) -> Place {
        self.places.place(addr)
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
/// `value_type` when it is given and as long as the watchpoints, else u64; and for execute
/// watches accessed_address and access_size: the memory the instruction was about to touch,
/// from the registers sampled before it ran (Cheat Engine's "what addresses this instruction
/// accesses").
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
    let mut accessed = Vec::with_capacity(n);
    let mut access_size = Vec::with_capacity(n);
    let mut decoder_cache: HashMap<u64, Option<iced_x86::Instruction>> = HashMap::new();
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
        let access = (spec.kind == BreakpointKind::Execute)
            .then(|| {
                let ins = decoder_cache
                    .entry(hits.ip[i])
                    .or_insert_with(|| ins.as_ref().and_then(|d| d.instruction(hits.ip[i])));
                effective_address(ins.as_ref()?, hits.registers[i].as_ref()?)
            })
            .flatten();
        accessed.push(access.map(|a| a.0));
        access_size.push(access.map(|a| a.1));
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
        ("accessed_address", Arc::new(UInt64Array::from(accessed))),
        ("access_size", Arc::new(UInt32Array::from(access_size))),
    ])
}
