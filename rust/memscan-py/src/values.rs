//! Python numbers, type names and patterns into core values, and typed values back out.

use memscan_core::{Number, Value, ValueType};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use crate::errors::IntoPyResult;

/// A value type given by name (`"i32"`, `"uint64"`, `"float"`).
pub fn value_type(name: &str) -> PyResult<ValueType> {
    name.parse::<ValueType>().py()
}

/// A Python int, float, numpy scalar or numeric string as a [`Number`], without rounding.
pub fn number(obj: &Bound<'_, PyAny>) -> PyResult<Number> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("expected a number, got a bool"));
    }
    if obj.is_instance_of::<PyInt>()
        || obj.hasattr("__index__")? && !obj.is_instance_of::<PyFloat>()
    {
        if let Ok(index) = obj.call_method0("__index__") {
            return match index.extract::<i128>() {
                Ok(i) => Ok(Number::Int(i)),
                Err(_) => Err(crate::errors::exception(
                    "InvalidValue",
                    format!("{index} is too large for any value type"),
                )),
            };
        }
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return parse_number(s.to_str()?);
    }
    match obj.extract::<f64>() {
        Ok(x) => Ok(Number::Float(x)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected an int or float, got {}",
            obj.get_type().name()?
        ))),
    }
}

/// A Python number fitted exactly to `ty`.
pub fn value(obj: &Bound<'_, PyAny>, ty: ValueType) -> PyResult<Value> {
    Value::from_number(ty, number(obj)?).py()
}

fn parse_number(s: &str) -> PyResult<Number> {
    let t = s.trim().replace('_', "");
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()
    } else {
        body.parse::<i128>().ok()
    };
    if let Some(i) = int {
        return Ok(Number::Int(if neg { -i } else { i }));
    }
    t.parse::<f64>()
        .map(Number::Float)
        .map_err(|_| crate::errors::exception("InvalidValue", format!("{s:?} is not a number")))
}

/// A typed value as a Python int or float (exact: ints stay ints, f32 widens exactly).
pub fn to_python<'py>(py: Python<'py>, v: Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::I8(x) => x.into_pyobject(py)?.into_any(),
        Value::I16(x) => x.into_pyobject(py)?.into_any(),
        Value::I32(x) => x.into_pyobject(py)?.into_any(),
        Value::I64(x) => x.into_pyobject(py)?.into_any(),
        Value::U8(x) => x.into_pyobject(py)?.into_any(),
        Value::U16(x) => x.into_pyobject(py)?.into_any(),
        Value::U32(x) => x.into_pyobject(py)?.into_any(),
        Value::U64(x) => x.into_pyobject(py)?.into_any(),
        Value::F32(x) => (x as f64).into_pyobject(py)?.into_any(),
        Value::F64(x) => x.into_pyobject(py)?.into_any(),
    })
}
