//! Arrow record batches of memscan's lists (regions, processes), for zero-copy export.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::ArrowError;

use crate::platform::ProcessInfo;
use crate::region::Region;

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
    ])
}

/// One row per process: pid, name, uid, exe, cmdline (list of strings).
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
    ])
}
