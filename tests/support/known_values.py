"""The demo target's fixed fields and their values, shared by the tests."""

from __future__ import annotations

import struct

#: (field, type, value) of every fixed field of the demo game, exact in its type.
EXACT_CASES = [
    ("i8_value", "i8", -77),
    ("u8_value", "u8", 201),
    ("i16_value", "i16", -12_345),
    ("u16_value", "u16", 54_321),
    ("i32_value", "i32", -123_456_789),
    ("u32_value", "u32", 3_000_000_000),
    ("i64_value", "i64", -1_234_567_890_123_456_789),
    ("u64_value", "u64", 12_345_678_901_234_567_890),
    ("f32_value", "f32", struct.unpack("f", struct.pack("f", 3.14159))[0]),
    ("f64_value", "f64", 2.718281828459045),
    ("i64_min", "i64", -(2**63)),
    ("u64_max", "u64", 2**64 - 1),
]
