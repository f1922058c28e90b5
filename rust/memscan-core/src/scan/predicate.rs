//! What a scan keeps: comparisons against constants (first and next scans) and against the
//! previous value of each candidate (next scans).

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::value::{Scalar, Value, ValueType};

/// A comparison of a value with constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Predicate {
    /// Every slot (unknown initial value).
    Any,
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Le(Value),
    Gt(Value),
    Ge(Value),
    /// Inclusive range.
    Between(Value, Value),
    /// Within an absolute tolerance of a value (compared in f64; the value may be of any type).
    Near(Value, f64),
}

/// A next-scan filter: a comparison with constants, or with each candidate's previous value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextOp {
    Value(Predicate),
    Changed,
    Unchanged,
    Increased,
    Decreased,
    IncreasedBy(Value),
    DecreasedBy(Value),
}

/// The comparison and relative operator names accepted from users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpName {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Between,
    Near,
    Changed,
    Unchanged,
    Increased,
    Decreased,
    IncreasedBy,
    DecreasedBy,
}

impl FromStr for OpName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "eq" | "==" | "=" | "exact" => OpName::Eq,
            "ne" | "!=" => OpName::Ne,
            "lt" | "<" => OpName::Lt,
            "le" | "<=" => OpName::Le,
            "gt" | ">" => OpName::Gt,
            "ge" | ">=" => OpName::Ge,
            "between" | "range" => OpName::Between,
            "near" | "approx" => OpName::Near,
            "changed" | "!" => OpName::Changed,
            "unchanged" | "same" => OpName::Unchanged,
            "increased" | "+" | "inc" => OpName::Increased,
            "decreased" | "-" | "dec" => OpName::Decreased,
            "increased_by" | "+=" => OpName::IncreasedBy,
            "decreased_by" | "-=" => OpName::DecreasedBy,
            other => {
                return Err(Error::invalid_argument(format!(
                    "unknown scan operator {other:?}; expected eq ne lt le gt ge between near \
                     changed unchanged increased decreased increased_by decreased_by"
                )))
            }
        })
    }
}

impl OpName {
    /// How many values the operator takes.
    pub fn arity(self) -> usize {
        match self {
            OpName::Changed | OpName::Unchanged | OpName::Increased | OpName::Decreased => 0,
            OpName::Between | OpName::Near => 2,
            _ => 1,
        }
    }

    /// Builds the next-scan filter from the operator and its (already typed) values;
    /// `tolerance` is the second operand of `near`.
    pub fn next_op(self, values: &[Value], tolerance: Option<f64>) -> Result<NextOp> {
        let want = if self == OpName::Near {
            1
        } else {
            self.arity()
        };
        if values.len() != want {
            return Err(Error::invalid_argument(format!(
                "operator {self:?} takes {want} value(s), got {}",
                values.len()
            )));
        }
        Ok(match self {
            OpName::Changed => NextOp::Changed,
            OpName::Unchanged => NextOp::Unchanged,
            OpName::Increased => NextOp::Increased,
            OpName::Decreased => NextOp::Decreased,
            OpName::IncreasedBy => NextOp::IncreasedBy(values[0]),
            OpName::DecreasedBy => NextOp::DecreasedBy(values[0]),
            _ => NextOp::Value(self.predicate(values, tolerance)?),
        })
    }

    /// Builds the constant comparison (first scans accept only these).
    pub fn predicate(self, values: &[Value], tolerance: Option<f64>) -> Result<Predicate> {
        let v = |i: usize| {
            values.get(i).copied().ok_or_else(|| {
                Error::invalid_argument(format!(
                    "operator {self:?} needs {} value(s)",
                    self.arity()
                ))
            })
        };
        Ok(match self {
            OpName::Eq => Predicate::Eq(v(0)?),
            OpName::Ne => Predicate::Ne(v(0)?),
            OpName::Lt => Predicate::Lt(v(0)?),
            OpName::Le => Predicate::Le(v(0)?),
            OpName::Gt => Predicate::Gt(v(0)?),
            OpName::Ge => Predicate::Ge(v(0)?),
            OpName::Between => Predicate::Between(v(0)?, v(1)?),
            OpName::Near => {
                let tol = tolerance.ok_or_else(|| {
                    Error::invalid_argument("near needs a tolerance (e.g. tolerance=0.01)")
                })?;
                if !(tol >= 0.0 && tol.is_finite()) {
                    return Err(Error::invalid_value(format!(
                        "tolerance must be finite and >= 0, got {tol}"
                    )));
                }
                Predicate::Near(v(0)?, tol)
            }
            other => {
                return Err(Error::invalid_argument(format!(
                    "{other:?} compares with a previous value, so it cannot start a scan"
                )))
            }
        })
    }
}

impl std::fmt::Display for Predicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Predicate::Any => write!(f, "any"),
            Predicate::Eq(v) => write!(f, "== {v}"),
            Predicate::Ne(v) => write!(f, "!= {v}"),
            Predicate::Lt(v) => write!(f, "< {v}"),
            Predicate::Le(v) => write!(f, "<= {v}"),
            Predicate::Gt(v) => write!(f, "> {v}"),
            Predicate::Ge(v) => write!(f, ">= {v}"),
            Predicate::Between(a, b) => write!(f, "between {a} and {b}"),
            Predicate::Near(v, tol) => write!(f, "near {v} ± {tol}"),
        }
    }
}

impl std::fmt::Display for NextOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NextOp::Value(p) => write!(f, "{p}"),
            NextOp::Changed => write!(f, "changed"),
            NextOp::Unchanged => write!(f, "unchanged"),
            NextOp::Increased => write!(f, "increased"),
            NextOp::Decreased => write!(f, "decreased"),
            NextOp::IncreasedBy(v) => write!(f, "increased by {v}"),
            NextOp::DecreasedBy(v) => write!(f, "decreased by {v}"),
        }
    }
}

/// A [`Predicate`] with its constants in the scanned type: the form kernels run.
#[derive(Debug, Clone, Copy)]
pub enum Typed<T> {
    Any,
    /// `eq(NaN)`: every NaN, whatever its payload.
    IsNan,
    /// `ne(NaN)`: every value that is not a NaN.
    NotNan,
    Eq(T),
    Ne(T),
    Lt(T),
    Le(T),
    Gt(T),
    Ge(T),
    Between(T, T),
    Near(f64, f64),
}

fn typed<T: Scalar>(v: Value) -> Result<T> {
    T::from_value(v).ok_or_else(|| {
        Error::invalid_value(format!(
            "{v} is a {}, the scan is of {}",
            v.value_type(),
            T::TYPE
        ))
    })
}

/// The constant as `T`, refusing NaN: an ordered comparison with NaN is never true.
fn ordered<T: Scalar>(v: Value) -> Result<T> {
    let x: T = typed(v)?;
    if is_nan(x) {
        return Err(Error::invalid_value(
            "a comparison with NaN is never true; use eq(nan) to find NaNs, ne(nan) for the rest",
        ));
    }
    Ok(x)
}

/// True for a float NaN (a value unequal to itself).
#[allow(clippy::eq_op)]
#[inline(always)]
pub fn is_nan<T: Scalar>(x: T) -> bool {
    x != x
}

impl Predicate {
    /// The predicate with its constants as `T`. Floats compare as IEEE numbers (so `0.0` equals
    /// `-0.0`), except that `eq(NaN)` finds every NaN and `ne(NaN)` every other value; ordered
    /// comparisons with a NaN constant are refused.
    pub fn typed<T: Scalar>(&self) -> Result<Typed<T>> {
        Ok(match *self {
            Predicate::Any => Typed::Any,
            Predicate::Eq(v) => match typed::<T>(v)? {
                x if is_nan(x) => Typed::IsNan,
                x => Typed::Eq(x),
            },
            Predicate::Ne(v) => match typed::<T>(v)? {
                x if is_nan(x) => Typed::NotNan,
                x => Typed::Ne(x),
            },
            Predicate::Lt(v) => Typed::Lt(ordered(v)?),
            Predicate::Le(v) => Typed::Le(ordered(v)?),
            Predicate::Gt(v) => Typed::Gt(ordered(v)?),
            Predicate::Ge(v) => Typed::Ge(ordered(v)?),
            Predicate::Between(a, b) => {
                let (a, b): (T, T) = (ordered(a)?, ordered(b)?);
                if a > b {
                    return Err(Error::invalid_value(format!("empty range: {a} > {b}")));
                }
                Typed::Between(a, b)
            }
            // The centre is any number: the distance is measured in f64, whatever `T` is.
            Predicate::Near(v, tol) => match v.as_f64() {
                c if c.is_nan() => return Err(Error::invalid_value("near(NaN) matches nothing")),
                c => Typed::Near(c, tol),
            },
        })
    }

    /// The value type of the predicate's constants, if it has any.
    pub fn value_type(&self) -> Option<ValueType> {
        match self {
            Predicate::Any => None,
            Predicate::Eq(v)
            | Predicate::Ne(v)
            | Predicate::Lt(v)
            | Predicate::Le(v)
            | Predicate::Gt(v)
            | Predicate::Ge(v)
            | Predicate::Between(v, _)
            | Predicate::Near(v, _) => Some(v.value_type()),
        }
    }
}

/// A [`NextOp`] with its constants as `T`.
#[derive(Debug, Clone, Copy)]
pub enum TypedNext<T> {
    Value(Typed<T>),
    Changed,
    Unchanged,
    Increased,
    Decreased,
    IncreasedBy(T),
    DecreasedBy(T),
}

impl NextOp {
    /// The filter with its constants as `T`.
    pub fn typed<T: Scalar>(&self) -> Result<TypedNext<T>> {
        Ok(match *self {
            NextOp::Value(p) => TypedNext::Value(p.typed()?),
            NextOp::Changed => TypedNext::Changed,
            NextOp::Unchanged => TypedNext::Unchanged,
            NextOp::Increased => TypedNext::Increased,
            NextOp::Decreased => TypedNext::Decreased,
            NextOp::IncreasedBy(v) => TypedNext::IncreasedBy(ordered(v)?),
            NextOp::DecreasedBy(v) => TypedNext::DecreasedBy(ordered(v)?),
        })
    }

    /// True if the filter reads each candidate's previous value.
    pub fn needs_previous(&self) -> bool {
        !matches!(self, NextOp::Value(_))
    }
}

/// Bitwise equality: a NaN that stays NaN is unchanged.
#[inline(always)]
pub fn same_bits<T: Scalar>(a: T, b: T) -> bool {
    bytemuck::bytes_of(&a) == bytemuck::bytes_of(&b)
}

/// True if `new - old == delta` (exact for integers, within float rounding for floats).
#[inline(always)]
pub fn moved_by<T: Scalar>(old: T, new: T, delta: T, up: bool) -> bool {
    if T::TYPE.is_float() {
        let (o, n, d) = (old.as_f64(), new.as_f64(), delta.as_f64());
        let diff = if up { n - o } else { o - n };
        let eps = if T::TYPE == ValueType::F32 {
            1e-5
        } else {
            1e-9
        };
        (diff - d).abs() <= eps * d.abs().max(1.0)
    } else if up {
        old.checked_add(delta) == Some(new)
    } else {
        old.checked_sub(delta) == Some(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_constants_mean_is_nan_or_are_refused() {
        assert!(matches!(
            Predicate::Eq(Value::F64(f64::NAN)).typed::<f64>(),
            Ok(Typed::IsNan)
        ));
        assert!(matches!(
            Predicate::Ne(Value::F32(f32::NAN)).typed::<f32>(),
            Ok(Typed::NotNan)
        ));
        for p in [
            Predicate::Lt(Value::F64(f64::NAN)),
            Predicate::Ge(Value::F64(f64::NAN)),
            Predicate::Between(Value::F64(0.0), Value::F64(f64::NAN)),
            Predicate::Near(Value::F64(f64::NAN), 1.0),
        ] {
            assert!(p.typed::<f64>().is_err(), "{p} was accepted");
        }
        assert!(NextOp::IncreasedBy(Value::F64(f64::NAN))
            .typed::<f64>()
            .is_err());
    }

    #[test]
    fn near_takes_any_centre_and_needs_a_tolerance() {
        let p = OpName::Near
            .predicate(&[Value::F64(2.5)], Some(0.01))
            .unwrap();
        assert!(matches!(p.typed::<f32>(), Ok(Typed::Near(c, t)) if c == 2.5 && t == 0.01));
        assert!(OpName::Near.predicate(&[Value::F64(2.5)], None).is_err());
        assert!(OpName::Near
            .predicate(&[Value::F64(2.5)], Some(-1.0))
            .is_err());
    }

    #[test]
    fn ranges_must_not_be_empty_and_constants_match_the_type() {
        assert!(Predicate::Between(Value::I32(5), Value::I32(1))
            .typed::<i32>()
            .is_err());
        assert!(Predicate::Eq(Value::I64(5)).typed::<i32>().is_err());
        assert!(Predicate::Eq(Value::I32(5)).typed::<i32>().is_ok());
    }

    #[test]
    fn moves_by_are_checked_for_overflow() {
        assert!(moved_by(250u8, 255, 5, true));
        assert!(!moved_by(251u8, 0, 5, true), "a wrapped add is no move");
        assert!(moved_by(3i8, -2, 5, false));
    }
}
