//! Arrow record batches of memscan's tables (regions, processes, candidates, change maps), for
//! zero-copy export.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, ListBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Int32Array, PrimitiveArray, RecordBatch, StringArray,
    UInt32Array, UInt64Array,
};
use arrow_schema::ArrowError;

use crate::analysis::{ChangeRange, MemorySnapshot};
use crate::platform::{ProcessInfo, RegionUsage};
use crate::region::Region;
use crate::scan::CandidateSet;
use crate::value::{dispatch, Column, Scalar};

/// One row per region: start, end, size, perms, flags, offset, device, inode, path, kind.
pub fn regions_batch(regions: &[Region]) -> Result<RecordBatch, ArrowError> {
    let u64s = |f: fn(&Region) -> u64| {
        Arc::new(regions.iter().map(f).collect::<UInt64Array>()) as ArrayRef
    };
    let bools = |f: fn(&Region) -> bool| {
        Arc::new(regions.iter().map(|r| Some(f(r))).collect::<BooleanArray>()) as ArrayRef
    };
    let strings = |f: &dyn Fn(&Region) -> String| {
        Arc::new(regions.iter().map(|r| Some(f(r))).collect::<StringArray>()) as ArrayRef
    };
    RecordBatch::try_from_iter([
        ("start", u64s(|r| r.start)),
        ("end", u64s(|r| r.end)),
        ("size", u64s(|r| r.size())),
        ("perms", strings(&|r| r.perms.to_string())),
        ("readable", bools(|r| r.perms.read)),
        ("writable", bools(|r| r.perms.write)),
        ("executable", bools(|r| r.perms.exec)),
        ("shared", bools(|r| r.perms.shared)),
        ("offset", u64s(|r| r.offset)),
        (
            "dev",
            strings(&|r| format!("{:02x}:{:02x}", r.dev.0, r.dev.1)),
        ),
        ("inode", u64s(|r| r.inode)),
        ("path", strings(&|r| r.path.clone())),
        ("kind", strings(&|r| r.kind.name().to_owned())),
        (
            "module",
            Arc::new(
                regions
                    .iter()
                    .map(|r| r.module.as_ref().map(|m| m.name().to_owned()))
                    .collect::<StringArray>(),
            ) as ArrayRef,
        ),
        (
            "module_base",
            Arc::new(
                regions
                    .iter()
                    .map(|r| r.module.as_ref().map(|m| m.base))
                    .collect::<UInt64Array>(),
            ),
        ),
    ])
}

/// One row per module: name, path, base, end, size, kind, regions.
pub fn modules_batch(modules: &[crate::modules::Module]) -> Result<RecordBatch, ArrowError> {
    let u64s = |f: fn(&crate::modules::Module) -> u64| {
        Arc::new(modules.iter().map(f).collect::<UInt64Array>()) as ArrayRef
    };
    let strings = |f: &dyn Fn(&crate::modules::Module) -> String| {
        Arc::new(modules.iter().map(|m| Some(f(m))).collect::<StringArray>()) as ArrayRef
    };
    RecordBatch::try_from_iter([
        ("name", strings(&|m| m.module.name().to_owned())),
        ("path", strings(&|m| m.module.path.to_string())),
        ("base", u64s(|m| m.module.base)),
        ("end", u64s(|m| m.end)),
        ("size", u64s(|m| m.end - m.module.base)),
        ("kind", strings(&|m| m.kind.name().to_owned())),
        (
            "regions",
            Arc::new(
                modules
                    .iter()
                    .map(|m| m.regions as u32)
                    .collect::<UInt32Array>(),
            ),
        ),
    ])
}

/// One row per process: pid, ppid, name, uid, exe, cmdline (list of strings), kernel_thread.
pub fn processes_batch(procs: &[ProcessInfo]) -> Result<RecordBatch, ArrowError> {
    let mut cmdline = ListBuilder::new(StringBuilder::new());
    for p in procs {
        for a in &p.cmdline {
            cmdline.values().append_value(a);
        }
        cmdline.append(true);
    }
    RecordBatch::try_from_iter([
        (
            "pid",
            Arc::new(procs.iter().map(|p| p.pid).collect::<Int32Array>()) as ArrayRef,
        ),
        (
            "ppid",
            Arc::new(procs.iter().map(|p| p.ppid).collect::<Int32Array>()),
        ),
        (
            "name",
            Arc::new(
                procs
                    .iter()
                    .map(|p| Some(p.name.as_str()))
                    .collect::<StringArray>(),
            ),
        ),
        (
            "uid",
            Arc::new(procs.iter().map(|p| p.uid).collect::<UInt32Array>()),
        ),
        (
            "exe",
            Arc::new(
                procs
                    .iter()
                    .map(|p| p.exe.as_deref())
                    .collect::<StringArray>(),
            ),
        ),
        ("cmdline", Arc::new(cmdline.finish())),
        (
            "kernel_thread",
            Arc::new(
                procs
                    .iter()
                    .map(|p| Some(p.kernel_thread))
                    .collect::<BooleanArray>(),
            ),
        ),
    ])
}

/// A value column as an Arrow array sharing its buffer (no copy).
pub fn column_array(column: &Column) -> ArrayRef {
    use arrow_array::*;
    match column {
        Column::I8(b) => Arc::new(Int8Array::new(b.clone(), None)),
        Column::I16(b) => Arc::new(Int16Array::new(b.clone(), None)),
        Column::I32(b) => Arc::new(Int32Array::new(b.clone(), None)),
        Column::I64(b) => Arc::new(Int64Array::new(b.clone(), None)),
        Column::U8(b) => Arc::new(UInt8Array::new(b.clone(), None)),
        Column::U16(b) => Arc::new(UInt16Array::new(b.clone(), None)),
        Column::U32(b) => Arc::new(UInt32Array::new(b.clone(), None)),
        Column::U64(b) => Arc::new(UInt64Array::new(b.clone(), None)),
        Column::F32(b) => Arc::new(Float32Array::new(b.clone(), None)),
        Column::F64(b) => Arc::new(Float64Array::new(b.clone(), None)),
    }
}

/// Candidates as a table: address, value, previous value (from `previous`, null where it has
/// none), and the stable location of each address: its region's start and kind, the module it
/// belongs to (file name; `.bss` included) and its offset from the module's load base, which
/// stay the same across runs of the target despite ASLR.
pub fn candidates_batch(
    set: &CandidateSet,
    previous: Option<&CandidateSet>,
    regions: &[Region],
) -> Result<RecordBatch, ArrowError> {
    let (addresses, values) = set.columns();
    let prev: ArrayRef = dispatch!(set.value_type(), T => {
        let mut cursor = previous.map(|p| p.cursor::<T>(addresses.first().copied().unwrap_or(0)));
        let vals: PrimitiveArray<<T as Scalar>::ArrowType> = addresses
            .iter()
            .map(|&a| cursor.as_mut().and_then(|c| c.get(a)))
            .collect();
        Arc::new(vals) as ArrayRef
    });
    let mut region_start = Vec::with_capacity(addresses.len());
    let mut kind = StringBuilder::new();
    let mut module = StringBuilder::new();
    let mut module_offset = Vec::with_capacity(addresses.len());
    let mut r = 0usize;
    for &a in addresses.iter() {
        while r < regions.len() && regions[r].end <= a {
            r += 1;
        }
        match regions.get(r).filter(|reg| reg.start <= a) {
            Some(reg) => {
                region_start.push(Some(reg.start));
                kind.append_value(reg.kind.name());
                match &reg.module {
                    Some(m) => {
                        module.append_value(m.name());
                        module_offset.push(Some(m.offset(a)));
                    }
                    None => {
                        module.append_null();
                        module_offset.push(None);
                    }
                }
            }
            None => {
                region_start.push(None);
                kind.append_null();
                module.append_null();
                module_offset.push(None);
            }
        }
    }
    RecordBatch::try_from_iter([
        (
            "address",
            Arc::new(UInt64Array::new(addresses.clone(), None)) as ArrayRef,
        ),
        ("value", column_array(&values)),
        ("previous", prev),
        ("region_start", Arc::new(UInt64Array::from(region_start))),
        ("region_kind", Arc::new(kind.finish())),
        ("module", Arc::new(module.finish())),
        ("module_offset", Arc::new(UInt64Array::from(module_offset))),
    ])
}

/// Regions with their memory use: start, end, size, perms, kind, path, rss, private_dirty, swap.
pub fn region_usage_batch(usage: &[RegionUsage]) -> Result<RecordBatch, ArrowError> {
    let regions: Vec<Region> = usage.iter().map(|u| u.region.clone()).collect();
    let base = regions_batch(&regions)?;
    let u64s = |f: fn(&RegionUsage) -> u64| {
        Arc::new(usage.iter().map(f).collect::<UInt64Array>()) as ArrayRef
    };
    let schema = base.schema();
    let mut columns: Vec<(&str, ArrayRef)> = schema
        .fields()
        .iter()
        .zip(base.columns())
        .map(|(f, c)| (f.name().as_str(), c.clone()))
        .collect();
    columns.push(("rss", u64s(|u| u.rss)));
    columns.push(("private_dirty", u64s(|u| u.private_dirty)));
    columns.push(("swap", u64s(|u| u.swap)));
    RecordBatch::try_from_iter(columns)
}

/// The changed byte ranges between two snapshots, one row per range, with the region each lies
/// in: region_start, region_end, region_kind, path (dictionary-encoded: one string per region),
/// module and module_offset (of `start`; null outside modules), start, end, length, changed_bytes.
pub fn change_map_batch(
    after: &MemorySnapshot,
    ranges: &[ChangeRange],
) -> Result<RecordBatch, ArrowError> {
    let region = |c: &ChangeRange| &after.regions[c.region].region;
    let u64s = |f: &dyn Fn(&ChangeRange) -> u64| {
        Arc::new(ranges.iter().map(f).collect::<UInt64Array>()) as ArrayRef
    };
    let keys = Int32Array::from_iter_values(ranges.iter().map(|c| c.region as i32));
    let per_region = |f: &dyn Fn(&Region) -> String| -> Result<ArrayRef, ArrowError> {
        let values = StringArray::from_iter_values(after.regions.iter().map(|r| f(&r.region)));
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys.clone(),
            Arc::new(values),
        )?))
    };
    RecordBatch::try_from_iter([
        ("region_start", u64s(&|c| region(c).start)),
        ("region_end", u64s(&|c| region(c).end)),
        ("region_kind", per_region(&|r| r.kind.name().to_owned())?),
        ("path", per_region(&|r| r.path.clone())?),
        (
            "module",
            Arc::new(
                ranges
                    .iter()
                    .map(|c| region(c).module.as_ref().map(|m| m.name().to_owned()))
                    .collect::<StringArray>(),
            ) as ArrayRef,
        ),
        (
            "module_offset",
            Arc::new(
                ranges
                    .iter()
                    .map(|c| region(c).module.as_ref().map(|m| m.offset(c.start)))
                    .collect::<UInt64Array>(),
            ),
        ),
        ("start", u64s(&|c| c.start)),
        ("end", u64s(&|c| c.end)),
        ("length", u64s(&|c| c.end - c.start)),
        ("changed_bytes", u64s(&|c| c.changed)),
    ])
}

/// One row per instruction: address, module, module_offset, location (`module!symbol+off`),
/// bytes, instruction (Intel text), branch_target and its location, memory_target (a
/// RIP-relative or absolute operand) and its location, memory_size.
pub fn disassembly_batch(
    lines: &[crate::code::Line],
    places: &mut crate::code::Places<'_>,
) -> Result<RecordBatch, ArrowError> {
    let mut module = StringBuilder::new();
    let mut module_offset = Vec::with_capacity(lines.len());
    let mut location = StringBuilder::new();
    let mut bytes = BinaryBuilder::new();
    let mut text = StringBuilder::new();
    let mut branch_location = StringBuilder::new();
    let mut memory_location = StringBuilder::new();
    for line in lines {
        let place = places.place(line.address);
        module.append_option(place.module.as_deref());
        module_offset.push(place.module_offset);
        location.append_value(place.location(line.address));
        bytes.append_value(&line.bytes);
        text.append_value(&line.text);
        branch_location.append_option(line.branch_target.map(|t| places.place(t).location(t)));
        memory_location.append_option(line.memory_target.map(|t| places.place(t).location(t)));
    }
    let u64s = |f: fn(&crate::code::Line) -> Option<u64>| {
        Arc::new(lines.iter().map(f).collect::<UInt64Array>()) as ArrayRef
    };
    RecordBatch::try_from_iter([
        ("address", u64s(|l| Some(l.address))),
        ("module", Arc::new(module.finish()) as ArrayRef),
        ("module_offset", Arc::new(UInt64Array::from(module_offset))),
        ("location", Arc::new(location.finish())),
        ("bytes", Arc::new(bytes.finish())),
        ("instruction", Arc::new(text.finish())),
        ("branch_target", u64s(|l| l.branch_target)),
        ("branch_location", Arc::new(branch_location.finish())),
        ("memory_target", u64s(|l| l.memory_target)),
        ("memory_location", Arc::new(memory_location.finish())),
        (
            "memory_size",
            Arc::new(lines.iter().map(|l| l.memory_size).collect::<UInt32Array>()),
        ),
    ])
}

/// One row per referencing instruction: address, location, kind (branch, memory, immediate),
/// target, and the instruction's text.
pub fn references_batch(
    refs: &[crate::code::Reference],
    places: &mut crate::code::Places<'_>,
) -> Result<RecordBatch, ArrowError> {
    let mut location = StringBuilder::new();
    for r in refs {
        location.append_value(places.place(r.address).location(r.address));
    }
    RecordBatch::try_from_iter([
        (
            "address",
            Arc::new(refs.iter().map(|r| r.address).collect::<UInt64Array>()) as ArrayRef,
        ),
        ("location", Arc::new(location.finish())),
        (
            "kind",
            Arc::new(
                refs.iter()
                    .map(|r| Some(r.kind.name()))
                    .collect::<StringArray>(),
            ),
        ),
        (
            "target",
            Arc::new(refs.iter().map(|r| r.target).collect::<UInt64Array>()),
        ),
        (
            "instruction",
            Arc::new(
                refs.iter()
                    .map(|r| Some(r.text.as_str()))
                    .collect::<StringArray>(),
            ),
        ),
    ])
}

/// One row per value: what it points at (kind of region, or null when it is not a pointer;
/// executable, writable, location, text and whether it was UTF-16, code_words, block_size).
pub fn pointees_batch(
    values: &[u64],
    pointees: &[crate::structure::Pointee],
) -> Result<RecordBatch, ArrowError> {
    let strings = |f: fn(&crate::structure::Pointee) -> Option<&str>| {
        Arc::new(pointees.iter().map(f).collect::<StringArray>()) as ArrayRef
    };
    let bools = |f: fn(&crate::structure::Pointee) -> bool| {
        Arc::new(
            pointees
                .iter()
                .map(|p| Some(f(p)))
                .collect::<BooleanArray>(),
        ) as ArrayRef
    };
    RecordBatch::try_from_iter([
        (
            "value",
            Arc::new(UInt64Array::from(values.to_vec())) as ArrayRef,
        ),
        ("kind", strings(|p| p.kind.map(|k| k.name()))),
        ("executable", bools(|p| p.executable)),
        ("writable", bools(|p| p.writable)),
        ("location", strings(|p| p.location.as_deref())),
        ("text", strings(|p| p.text.as_deref())),
        ("wide", bools(|p| p.wide)),
        (
            "code_words",
            Arc::new(
                pointees
                    .iter()
                    .map(|p| p.code_words)
                    .collect::<UInt32Array>(),
            ),
        ),
        (
            "block_size",
            Arc::new(
                pointees
                    .iter()
                    .map(|p| p.block_size)
                    .collect::<UInt64Array>(),
            ),
        ),
    ])
}
