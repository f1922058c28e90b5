//! Value types and typed values, kept in their native representation (never through f64).

use std::fmt;
use std::str::FromStr;

use arrow_buffer::{ArrowNativeType, ScalarBuffer};

use crate::error::{Error, Result};

/// The scalar types memscan reads, scans and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
}

impl ValueType {
    /// Every type, integers first.
    pub const ALL: [ValueType; 10] = [
        ValueType::I8,
        ValueType::I16,
        ValueType::I32,
        ValueType::I64,
        ValueType::U8,
        ValueType::U16,
        ValueType::U32,
        ValueType::U64,
        ValueType::F32,
        ValueType::F64,
    ];

    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            ValueType::I8 | ValueType::U8 => 1,
            ValueType::I16 | ValueType::U16 => 2,
            ValueType::I32 | ValueType::U32 | ValueType::F32 => 4,
            ValueType::I64 | ValueType::U64 | ValueType::F64 => 8,
        }
    }

    /// The canonical short name (`"i32"`, `"f64"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::I8 => "i8",
            ValueType::I16 => "i16",
            ValueType::I32 => "i32",
            ValueType::I64 => "i64",
            ValueType::U8 => "u8",
            ValueType::U16 => "u16",
            ValueType::U32 => "u32",
            ValueType::U64 => "u64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
        }
    }

    /// The other names accepted for the type (lower case): NumPy's and C's.
    pub const fn aliases(self) -> &'static [&'static str] {
        match self {
            ValueType::I8 => &["int8", "sbyte"],
            ValueType::I16 => &["int16", "short"],
            ValueType::I32 => &["int32", "int"],
            ValueType::I64 => &["int64", "long"],
            ValueType::U8 => &["uint8", "byte"],
            ValueType::U16 => &["uint16", "ushort"],
            ValueType::U32 => &["uint32", "uint"],
            ValueType::U64 => &["uint64", "ulong"],
            ValueType::F32 => &["float32", "float"],
            ValueType::F64 => &["float64", "double"],
        }
    }

    /// NumPy's dtype name (`"int32"`, `"float64"`, ...), also Arrow's and polars' width.
    pub const fn numpy_name(self) -> &'static str {
        self.aliases()[0]
    }

    /// True for `f32` and `f64`.
    pub const fn is_float(self) -> bool {
        matches!(self, ValueType::F32 | ValueType::F64)
    }

    /// True for the signed integer types.
    pub const fn is_signed_int(self) -> bool {
        matches!(
            self,
            ValueType::I8 | ValueType::I16 | ValueType::I32 | ValueType::I64
        )
    }

    /// Inclusive integer bounds of an integer type.
    pub const fn int_bounds(self) -> Option<(i128, i128)> {
        Some(match self {
            ValueType::I8 => (i8::MIN as i128, i8::MAX as i128),
            ValueType::I16 => (i16::MIN as i128, i16::MAX as i128),
            ValueType::I32 => (i32::MIN as i128, i32::MAX as i128),
            ValueType::I64 => (i64::MIN as i128, i64::MAX as i128),
            ValueType::U8 => (0, u8::MAX as i128),
            ValueType::U16 => (0, u16::MAX as i128),
            ValueType::U32 => (0, u32::MAX as i128),
            ValueType::U64 => (0, u64::MAX as i128),
            ValueType::F32 | ValueType::F64 => return None,
        })
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ValueType {
    type Err = Error;

    /// Accepts the short names and common aliases (`int32`, `uint64`, `float`, `double`, ...).
    fn from_str(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase();
        ValueType::ALL
            .into_iter()
            .find(|t| t.name() == key || t.aliases().contains(&key.as_str()))
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "unknown value type {s:?}; expected one of i8 i16 i32 i64 u8 u16 u32 u64 f32 f64"
                ))
            })
    }
}

/// A number as a caller gives it, before it is fitted to a [`ValueType`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i128),
    Float(f64),
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A typed scalar value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    F32(f32),
    F64(f64),
}

impl Value {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::I8(_) => ValueType::I8,
            Value::I16(_) => ValueType::I16,
            Value::I32(_) => ValueType::I32,
            Value::I64(_) => ValueType::I64,
            Value::U8(_) => ValueType::U8,
            Value::U16(_) => ValueType::U16,
            Value::U32(_) => ValueType::U32,
            Value::U64(_) => ValueType::U64,
            Value::F32(_) => ValueType::F32,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// Fits `n` to `ty` exactly: out-of-range integers, fractional numbers for integer types and
    /// finite numbers too large for `f32` are errors, never wrapped or rounded to another value.
    pub fn from_number(ty: ValueType, n: Number) -> Result<Value> {
        let out_of_range = || Error::invalid_value(format!("{n} does not fit in {ty}"));
        if let Some((lo, hi)) = ty.int_bounds() {
            let i = match n {
                Number::Int(i) => i,
                Number::Float(x) => {
                    if !x.is_finite() || x.fract() != 0.0 {
                        return Err(Error::invalid_value(format!(
                            "{x} is not an integer, as {ty} needs"
                        )));
                    }
                    if x.abs() >= 2f64.powi(100) {
                        return Err(out_of_range());
                    }
                    x as i128
                }
            };
            if i < lo || i > hi {
                return Err(out_of_range());
            }
            return Ok(match ty {
                ValueType::I8 => Value::I8(i as i8),
                ValueType::I16 => Value::I16(i as i16),
                ValueType::I32 => Value::I32(i as i32),
                ValueType::I64 => Value::I64(i as i64),
                ValueType::U8 => Value::U8(i as u8),
                ValueType::U16 => Value::U16(i as u16),
                ValueType::U32 => Value::U32(i as u32),
                _ => Value::U64(i as u64),
            });
        }
        let inexact = |nearest: String| {
            Error::invalid_value(format!(
                "{n} has no exact {ty} representation (the nearest {ty} is {nearest}); \
                 pass that value, or use a `near` comparison with a tolerance"
            ))
        };
        let x = match n {
            Number::Float(x) => x,
            Number::Int(i) => {
                let x = i as f64;
                if x as i128 != i || x.is_infinite() {
                    return Err(inexact(x.to_string()));
                }
                x
            }
        };
        if ty == ValueType::F32 {
            if x.is_finite() && x.abs() > f32::MAX as f64 {
                return Err(out_of_range());
            }
            let y = x as f32;
            // NaN stays NaN (its payload is kept by the conversion); anything else must survive
            // the round trip exactly, so 16777217 or 1e-50 are errors, not other numbers.
            if !x.is_nan() && y as f64 != x {
                return Err(inexact((y as f64).to_string()));
            }
            Ok(Value::F32(y))
        } else {
            Ok(Value::F64(x))
        }
    }

    /// Decodes a value of type `ty` from native-endian bytes (`bytes.len()` must be `ty.size()`).
    pub fn from_ne_bytes(ty: ValueType, bytes: &[u8]) -> Result<Value> {
        if bytes.len() != ty.size() {
            return Err(Error::invalid_argument(format!(
                "{ty} needs {} bytes, got {}",
                ty.size(),
                bytes.len()
            )));
        }
        Ok(dispatch!(ty, T => T::read_ne(bytes).into_value()))
    }

    /// The value widened to f64 (rounded for 64-bit integers beyond 2**53).
    pub fn as_f64(&self) -> f64 {
        dispatch!(self.value_type(), T => T::from_value(*self).map_or(f64::NAN, Scalar::as_f64))
    }

    /// Native-endian bytes of the value.
    pub fn to_ne_bytes(&self) -> Vec<u8> {
        match *self {
            Value::I8(v) => v.to_ne_bytes().to_vec(),
            Value::I16(v) => v.to_ne_bytes().to_vec(),
            Value::I32(v) => v.to_ne_bytes().to_vec(),
            Value::I64(v) => v.to_ne_bytes().to_vec(),
            Value::U8(v) => v.to_ne_bytes().to_vec(),
            Value::U16(v) => v.to_ne_bytes().to_vec(),
            Value::U32(v) => v.to_ne_bytes().to_vec(),
            Value::U64(v) => v.to_ne_bytes().to_vec(),
            Value::F32(v) => v.to_ne_bytes().to_vec(),
            Value::F64(v) => v.to_ne_bytes().to_vec(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I8(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
        }
    }
}

/// A Rust scalar that memscan scans: one per [`ValueType`]. Kernels are generic over it.
pub trait Scalar:
    bytemuck::Pod
    + ArrowNativeType
    + PartialOrd
    + PartialEq
    + Send
    + Sync
    + fmt::Display
    + fmt::Debug
    + 'static
{
    /// The matching runtime type.
    const TYPE: ValueType;
    /// The matching Arrow primitive type.
    type ArrowType: arrow_array::ArrowPrimitiveType<Native = Self>;
    /// The value's native-endian reading of `bytes` (at least `size_of::<Self>()` long; unaligned ok).
    #[inline(always)]
    fn read_ne(bytes: &[u8]) -> Self {
        bytemuck::pod_read_unaligned(&bytes[..std::mem::size_of::<Self>()])
    }
    /// Extracts this scalar from a [`Value`] of the same type.
    fn from_value(v: Value) -> Option<Self>;
    /// Wraps this scalar in a [`Value`].
    fn into_value(self) -> Value;
    /// `self + rhs`, `None` on overflow (floats: on a non-finite result from finite inputs).
    fn checked_add(self, rhs: Self) -> Option<Self>;
    /// `self - rhs`, `None` on overflow.
    fn checked_sub(self, rhs: Self) -> Option<Self>;
    /// `self * rhs`, `None` on overflow.
    fn checked_mul(self, rhs: Self) -> Option<Self>;
    /// `self / rhs`, `None` on overflow or division by zero.
    fn checked_div(self, rhs: Self) -> Option<Self>;
    /// `self - rhs` wrapped (integers) or plain (floats): the change between two readings.
    fn wrapping_sub(self, rhs: Self) -> Self;
    /// Widened to f64 for tolerance and ratio arithmetic (exact for every type up to 32 bits).
    fn as_f64(self) -> f64;
    /// The exact integer value (`None` for floats): differences of these never overflow.
    fn exact_int(self) -> Option<i128>;
    /// Wraps a vector of this scalar as a [`Column`].
    fn into_column(values: ScalarBuffer<Self>) -> Column;
    /// The typed slice of a [`Column`] of this scalar's type.
    fn column_slice(column: &Column) -> Option<&[Self]>;
}

/// A typed column of values, in an immutable shared buffer: cloning is cheap and NumPy/Arrow
/// views share it without copies.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    I8(ScalarBuffer<i8>),
    I16(ScalarBuffer<i16>),
    I32(ScalarBuffer<i32>),
    I64(ScalarBuffer<i64>),
    U8(ScalarBuffer<u8>),
    U16(ScalarBuffer<u16>),
    U32(ScalarBuffer<u32>),
    U64(ScalarBuffer<u64>),
    F32(ScalarBuffer<f32>),
    F64(ScalarBuffer<f64>),
}

impl Column {
    /// An empty column of type `ty`.
    pub fn empty(ty: ValueType) -> Column {
        dispatch!(ty, T => T::into_column(ScalarBuffer::from(Vec::<T>::new())))
    }

    /// The column's value type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Column::I8(_) => ValueType::I8,
            Column::I16(_) => ValueType::I16,
            Column::I32(_) => ValueType::I32,
            Column::I64(_) => ValueType::I64,
            Column::U8(_) => ValueType::U8,
            Column::U16(_) => ValueType::U16,
            Column::U32(_) => ValueType::U32,
            Column::U64(_) => ValueType::U64,
            Column::F32(_) => ValueType::F32,
            Column::F64(_) => ValueType::F64,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        dispatch!(self.value_type(), T => T::column_slice(self).map_or(0, <[T]>::len))
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `i`.
    pub fn get(&self, i: usize) -> Option<Value> {
        dispatch!(self.value_type(), T => T::column_slice(self)?.get(i).map(|v| v.into_value()))
    }

    /// A column from a vector, without copying it.
    pub fn from_vec<T: Scalar>(values: Vec<T>) -> Column {
        T::into_column(ScalarBuffer::from(values))
    }

    /// `len` values from `offset` (shares the buffer).
    pub fn slice(&self, offset: usize, len: usize) -> Column {
        match self {
            Column::I8(b) => Column::I8(b.slice(offset, len)),
            Column::I16(b) => Column::I16(b.slice(offset, len)),
            Column::I32(b) => Column::I32(b.slice(offset, len)),
            Column::I64(b) => Column::I64(b.slice(offset, len)),
            Column::U8(b) => Column::U8(b.slice(offset, len)),
            Column::U16(b) => Column::U16(b.slice(offset, len)),
            Column::U32(b) => Column::U32(b.slice(offset, len)),
            Column::U64(b) => Column::U64(b.slice(offset, len)),
            Column::F32(b) => Column::F32(b.slice(offset, len)),
            Column::F64(b) => Column::F64(b.slice(offset, len)),
        }
    }

    /// Bytes held by the values.
    pub fn nbytes(&self) -> usize {
        self.len() * self.value_type().size()
    }
}

macro_rules! impl_int_scalar {
    ($($t:ty => $variant:ident / $arrow:ident),*) => {$(
        impl Scalar for $t {
            const TYPE: ValueType = ValueType::$variant;
            type ArrowType = arrow_array::types::$arrow;
            fn from_value(v: Value) -> Option<Self> {
                match v { Value::$variant(x) => Some(x), _ => None }
            }
            fn into_value(self) -> Value { Value::$variant(self) }
            #[inline(always)]
            fn checked_add(self, rhs: Self) -> Option<Self> { <$t>::checked_add(self, rhs) }
            #[inline(always)]
            fn checked_sub(self, rhs: Self) -> Option<Self> { <$t>::checked_sub(self, rhs) }
            #[inline(always)]
            fn checked_mul(self, rhs: Self) -> Option<Self> { <$t>::checked_mul(self, rhs) }
            #[inline(always)]
            fn checked_div(self, rhs: Self) -> Option<Self> { <$t>::checked_div(self, rhs) }
            #[inline(always)]
            fn wrapping_sub(self, rhs: Self) -> Self { <$t>::wrapping_sub(self, rhs) }
            #[inline(always)]
            fn as_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn exact_int(self) -> Option<i128> { Some(self as i128) }
            fn into_column(values: ScalarBuffer<Self>) -> Column { Column::$variant(values) }
            fn column_slice(column: &Column) -> Option<&[Self]> {
                match column { Column::$variant(v) => Some(v), _ => None }
            }
        }
    )*};
}
impl_int_scalar!(
    i8 => I8 / Int8Type, i16 => I16 / Int16Type, i32 => I32 / Int32Type, i64 => I64 / Int64Type,
    u8 => U8 / UInt8Type, u16 => U16 / UInt16Type, u32 => U32 / UInt32Type, u64 => U64 / UInt64Type
);

macro_rules! impl_float_scalar {
    ($($t:ty => $variant:ident / $arrow:ident),*) => {$(
        impl Scalar for $t {
            const TYPE: ValueType = ValueType::$variant;
            type ArrowType = arrow_array::types::$arrow;
            fn from_value(v: Value) -> Option<Self> {
                match v { Value::$variant(x) => Some(x), _ => None }
            }
            fn into_value(self) -> Value { Value::$variant(self) }
            #[inline(always)]
            fn checked_add(self, rhs: Self) -> Option<Self> { finite(self, rhs, self + rhs) }
            #[inline(always)]
            fn checked_sub(self, rhs: Self) -> Option<Self> { finite(self, rhs, self - rhs) }
            #[inline(always)]
            fn checked_mul(self, rhs: Self) -> Option<Self> { finite(self, rhs, self * rhs) }
            #[inline(always)]
            fn checked_div(self, rhs: Self) -> Option<Self> {
                if rhs == 0.0 { None } else { finite(self, rhs, self / rhs) }
            }
            #[inline(always)]
            fn wrapping_sub(self, rhs: Self) -> Self { self - rhs }
            #[inline(always)]
            fn as_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn exact_int(self) -> Option<i128> { None }
            fn into_column(values: ScalarBuffer<Self>) -> Column { Column::$variant(values) }
            fn column_slice(column: &Column) -> Option<&[Self]> {
                match column { Column::$variant(v) => Some(v), _ => None }
            }
        }
    )*};
}
impl_float_scalar!(f32 => F32 / Float32Type, f64 => F64 / Float64Type);

/// `out` unless finite inputs gave a non-finite result (float overflow).
#[inline(always)]
fn finite<T: Into<f64> + Copy>(a: T, b: T, out: T) -> Option<T> {
    let (a, b, o): (f64, f64, f64) = (a.into(), b.into(), out.into());
    if a.is_finite() && b.is_finite() && !o.is_finite() {
        None
    } else {
        Some(out)
    }
}

/// Runs `$body` with `$T` bound to the Rust scalar of the runtime [`ValueType`] `$ty`.
#[macro_export]
macro_rules! dispatch {
    ($ty:expr, $T:ident => $body:expr) => {
        match $ty {
            $crate::ValueType::I8 => {
                type $T = i8;
                $body
            }
            $crate::ValueType::I16 => {
                type $T = i16;
                $body
            }
            $crate::ValueType::I32 => {
                type $T = i32;
                $body
            }
            $crate::ValueType::I64 => {
                type $T = i64;
                $body
            }
            $crate::ValueType::U8 => {
                type $T = u8;
                $body
            }
            $crate::ValueType::U16 => {
                type $T = u16;
                $body
            }
            $crate::ValueType::U32 => {
                type $T = u32;
                $body
            }
            $crate::ValueType::U64 => {
                type $T = u64;
                $body
            }
            $crate::ValueType::F32 => {
                type $T = f32;
                $body
            }
            $crate::ValueType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
pub use dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_fit_exactly() {
        assert_eq!(
            Value::from_number(ValueType::U64, Number::Int(u64::MAX as i128)).unwrap(),
            Value::U64(u64::MAX)
        );
        assert_eq!(
            Value::from_number(ValueType::I64, Number::Int(i64::MIN as i128)).unwrap(),
            Value::I64(i64::MIN)
        );
    }

    #[test]
    fn out_of_range_is_an_error() {
        assert!(Value::from_number(ValueType::U8, Number::Int(256)).is_err());
        assert!(Value::from_number(ValueType::U32, Number::Int(-1)).is_err());
        assert!(Value::from_number(ValueType::I32, Number::Float(1.5)).is_err());
        assert!(Value::from_number(ValueType::F32, Number::Float(1e300)).is_err());
        assert!(Value::from_number(ValueType::F64, Number::Int((1 << 53) + 1)).is_err());
    }

    #[test]
    fn f32_values_are_exact_or_refused() {
        let f32_of = |n| Value::from_number(ValueType::F32, n);
        assert!(f32_of(Number::Int(16_777_217)).is_err());
        assert!(f32_of(Number::Float(1e-50)).is_err());
        assert!(f32_of(Number::Float(0.1)).is_err());
        assert_eq!(
            f32_of(Number::Int(16_777_216)).unwrap(),
            Value::F32(16_777_216.0)
        );
        assert_eq!(f32_of(Number::Float(1.5)).unwrap(), Value::F32(1.5));
        assert_eq!(
            f32_of(Number::Float(0.1f32 as f64)).unwrap(),
            Value::F32(0.1)
        );
        assert!(matches!(f32_of(Number::Float(f64::NAN)), Ok(Value::F32(x)) if x.is_nan()));
        assert_eq!(
            f32_of(Number::Float(f64::NEG_INFINITY)).unwrap(),
            Value::F32(f32::NEG_INFINITY)
        );
    }

    #[test]
    fn names_round_trip() {
        for t in ValueType::ALL {
            assert_eq!(t.name().parse::<ValueType>().unwrap(), t);
        }
        assert!("i33".parse::<ValueType>().is_err());
    }

    #[test]
    fn bytes_round_trip() {
        let v = Value::I16(-2);
        assert_eq!(
            Value::from_ne_bytes(ValueType::I16, &v.to_ne_bytes()).unwrap(),
            v
        );
        assert!(Value::from_ne_bytes(ValueType::I16, &[0]).is_err());
    }
}
