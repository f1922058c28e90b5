//! Python numbers, type names and patterns into core values, and typed values back out.

use memscan_core::{Number, Value, ValueType};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyTuple};

use crate::errors::{invalid_value, IntoPyResult};

/// A value type given by name (`"i32"`, `"uint64"`, `"float"`).
pub fn value_type(name: &str) -> PyResult<ValueType> {
    name.parse::<ValueType>().py()
}

/// Every value type as a dict (name, size, numpy dtype name, signed, float, aliases): the one
/// table Python builds its maps from.
pub fn value_type_table(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let rows = ValueType::ALL
        .into_iter()
        .map(|t| {
            let d = PyDict::new(py);
            d.set_item("name", t.name())?;
            d.set_item("size", t.size())?;
            d.set_item("numpy", t.numpy_name())?;
            d.set_item("signed", t.is_signed_int() || t.is_float())?;
            d.set_item("float", t.is_float())?;
            d.set_item("aliases", PyTuple::new(py, t.aliases())?)?;
            Ok(d)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, rows)
}

/// A Python int, float, NumPy scalar or numeric string as a [`Number`], without rounding.
/// Booleans (Python's and NumPy's) are refused; a string is a number exactly when Python's
/// `int(s, 0)` or `float(s)` accepts it.
pub fn number(obj: &Bound<'_, PyAny>) -> PyResult<Number> {
    if is_bool(obj)? {
        return Err(PyTypeError::new_err("expected a number, got a bool"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return parse_number(s);
    }
    if obj.is_instance_of::<PyInt>()
        || obj.hasattr("__index__")? && !obj.is_instance_of::<PyFloat>()
    {
        if let Ok(index) = obj.call_method0("__index__") {
            return int_number(&index);
        }
    }
    match obj.extract::<f64>() {
        Ok(x) => Ok(Number::Float(x)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected an int or float, got {}",
            obj.get_type().name()?
        ))),
    }
}

/// True for `bool` and NumPy booleans (whose dtype kind is `b`).
fn is_bool(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if obj.is_instance_of::<PyBool>() {
        return Ok(true);
    }
    match obj.getattr("dtype") {
        Ok(dtype) => Ok(dtype
            .getattr("kind")
            .is_ok_and(|k| k.eq("b").unwrap_or(false))),
        Err(_) => Ok(false),
    }
}

fn int_number(index: &Bound<'_, PyAny>) -> PyResult<Number> {
    index
        .extract::<i128>()
        .map(Number::Int)
        .map_err(|_| invalid_value(format!("{index} is too large for any value type")))
}

/// A Python number fitted exactly to `ty`.
pub fn value(obj: &Bound<'_, PyAny>, ty: ValueType) -> PyResult<Value> {
    Value::from_number(ty, number(obj)?).py()
}

/// Parses a numeric string with Python's own rules: `int(s, 0)`, else `float(s)`.
fn parse_number(s: &Bound<'_, PyString>) -> PyResult<Number> {
    let py = s.py();
    let builtins = py.import("builtins")?;
    if let Ok(i) = builtins.getattr("int")?.call1((s, 0)) {
        return int_number(&i);
    }
    match builtins.getattr("float")?.call1((s,)) {
        Ok(x) => Ok(Number::Float(x.extract()?)),
        Err(_) => Err(invalid_value(format!(
            "{:?} is not a number",
            s.to_string_lossy()
        ))),
    }
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
