//! Writing many values at once: set, add, subtract, multiply, divide; checked and all or nothing.

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::platform;
use crate::process::Process;
use crate::value::{dispatch, Scalar, Value, ValueType};

/// Arithmetic applied to each target value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    Set,
    Add,
    Sub,
    Mul,
    Div,
}

impl FromStr for WriteOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "set" | "=" => WriteOp::Set,
            "add" | "+" => WriteOp::Add,
            "sub" | "subtract" | "-" => WriteOp::Sub,
            "mul" | "multiply" | "*" => WriteOp::Mul,
            "div" | "divide" | "/" => WriteOp::Div,
            other => {
                return Err(Error::invalid_argument(format!(
                    "unknown write operation {other:?}; expected set add sub mul div"
                )))
            }
        })
    }
}

/// Applies `op operand` to the `ty` value at each address. Overflow policy: checked. Every
/// address is validated (mapped, writable unless `force`) and every new value computed before
/// anything is written; an overflow or division by zero is `InvalidValue` and nothing changes.
/// Returns the new values.
pub fn apply(
    process: &Process,
    addresses: &[u64],
    ty: ValueType,
    op: WriteOp,
    operand: Value,
    force: bool,
) -> Result<Vec<Value>> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let regions = process.regions()?;
    let mut sorted: Vec<u64> = addresses.to_vec();
    sorted.sort_unstable();
    for &a in &sorted {
        process.check_writable(&regions, a, ty.size(), force)?;
    }
    let old = read_many(process, addresses, ty.size())?;
    let new = dispatch!(ty, T => compute::<T>(addresses, &old, op, operand)?);
    write_all(process, addresses, ty.size(), &new, &old, force)?;
    Ok(new
        .chunks(ty.size())
        .map(|b| Value::from_ne_bytes(ty, b).expect("sized"))
        .collect())
}

/// Writes the same `bytes` at every address, all or nothing (used by set and by freezing).
pub fn write_same(process: &Process, addresses: &[u64], bytes: &[u8], force: bool) -> Result<()> {
    let regions = process.regions()?;
    for &a in addresses {
        process.check_writable(&regions, a, bytes.len(), force)?;
    }
    let old = read_many(process, addresses, bytes.len())?;
    let new: Vec<u8> = bytes.repeat(addresses.len());
    write_all(process, addresses, bytes.len(), &new, &old, force)
}

/// Reads one `size`-byte value at each address (few syscalls); any unreadable one is an error.
pub fn read_many(process: &Process, addresses: &[u64], size: usize) -> Result<Vec<u8>> {
    let ranges: Vec<(u64, usize)> = addresses.iter().map(|&a| (a, size)).collect();
    let mut buf = vec![0u8; ranges.len() * size];
    let n = process.memory().read_vectored(&ranges, &mut buf)?;
    if n < buf.len() {
        let addr = addresses[n / size];
        return Err(Error::InvalidAddress {
            pid: process.pid(),
            addr,
            len: size,
            reason: "not readable".into(),
        });
    }
    Ok(buf)
}

fn compute<T: Scalar>(
    addresses: &[u64],
    old: &[u8],
    op: WriteOp,
    operand: Value,
) -> Result<Vec<u8>> {
    let x = T::from_value(operand).ok_or_else(|| {
        Error::InvalidValue(format!(
            "operand {operand} is a {}, not {}",
            operand.value_type(),
            T::TYPE
        ))
    })?;
    let size = std::mem::size_of::<T>();
    let mut out = Vec::with_capacity(old.len());
    for (i, b) in old.chunks(size).enumerate() {
        let v = T::read_ne(b);
        let r = match op {
            WriteOp::Set => Some(x),
            WriteOp::Add => v.checked_add(x),
            WriteOp::Sub => v.checked_sub(x),
            WriteOp::Mul => v.checked_mul(x),
            WriteOp::Div => v.checked_div(x),
        };
        let r = r.ok_or_else(|| {
            Error::InvalidValue(format!(
                "{v} {op:?} {x} overflows {} (or divides by zero) at {:#x}; nothing was written",
                T::TYPE,
                addresses[i]
            ))
        })?;
        out.extend_from_slice(bytemuck::bytes_of(&r));
    }
    Ok(out)
}

/// Writes `new` (one `size`-byte value per address); if the kernel stops part way, writes back
/// `old` where it had written, so a failed write changes nothing.
fn write_all(
    process: &Process,
    addresses: &[u64],
    size: usize,
    new: &[u8],
    old: &[u8],
    force: bool,
) -> Result<()> {
    let pid = process.pid();
    if force {
        for (i, &a) in addresses.iter().enumerate() {
            let written = platform::write_memory_forced(pid, a, &new[i * size..(i + 1) * size])?;
            if written < size {
                for (j, &b) in addresses[..=i].iter().enumerate() {
                    let _ = platform::write_memory_forced(pid, b, &old[j * size..(j + 1) * size]);
                }
                return Err(failed(a, size, written));
            }
        }
        return Ok(());
    }
    let ranges: Vec<(u64, usize)> = addresses.iter().map(|&a| (a, size)).collect();
    let n = platform::write_vectored(pid, &ranges, new)?;
    if n < new.len() {
        let done = n.div_ceil(size);
        let _ = platform::write_vectored(pid, &ranges[..done], old);
        return Err(failed(addresses[n / size], size, n % size));
    }
    Ok(())
}

fn failed(addr: u64, len: usize, written: usize) -> Error {
    Error::WriteFailed {
        addr,
        len,
        written,
        source: Error::unwritable_page(),
    }
}
