"""libmemscan (brkzlr/libmemscan, PINCE's engine) through its C ABI, with ctypes: the structures,
constants and functions the benchmarks call, from libmemscan.zig. Benchmark harness only:
libmemscan is never a dependency of memscan, and this repository holds no recipe that builds
it; pass the path of a ``libmemscan.so`` the user built.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

OK = 0
MAP_END = 35
LEVELS = {"all": 0, "all_rw": 1}
INTEGER32 = 5
MATCH = {"eq": 1, "increased": 9}
NAME_BYTES = 255
MAX_OFFSETS = 255
# MatchFlags (value.zig): u32b | s32b.
FLAGS_I32 = (1 << 4) | (1 << 5)


class PointerScanOptions(ctypes.Structure):
    _fields_ = [
        ("pointer_width", ctypes.c_uint8),
        ("max_depth", ctypes.c_uint8),
        ("module_base_only", ctypes.c_bool),
        ("has_max_results", ctypes.c_bool),
        ("endianness", ctypes.c_int),  # 0: native
        ("max_positive_offset", ctypes.c_size_t),
        ("max_negative_offset", ctypes.c_size_t),
        ("max_results", ctypes.c_uint64),
    ]


class PointerPathRecord(ctypes.Structure):
    _fields_ = [
        ("base_kind", ctypes.c_uint8),  # 0: module offset, 1: absolute address
        ("module_index", ctypes.c_uint32),
        ("base_value", ctypes.c_int64),
        ("module_name_len", ctypes.c_uint32),
        ("module_name", ctypes.c_uint8 * NAME_BYTES),
        ("offset_count", ctypes.c_uint32),
        ("offsets", ctypes.c_int64 * MAX_OFFSETS),
    ]


class UserValue(ctypes.Structure):
    _fields_ = [
        ("int8_value", ctypes.c_int8),
        ("uint8_value", ctypes.c_uint8),
        ("int16_value", ctypes.c_int16),
        ("uint16_value", ctypes.c_uint16),
        ("int32_value", ctypes.c_int32),
        ("uint32_value", ctypes.c_uint32),
        ("int64_value", ctypes.c_int64),
        ("uint64_value", ctypes.c_uint64),
        ("float32_value", ctypes.c_float),
        ("float64_value", ctypes.c_double),
        ("data", ctypes.c_void_p),
        ("wildcards", ctypes.c_void_p),
        ("data_len", ctypes.c_size_t),
        ("flags_bits", ctypes.c_uint16),
    ]

    @classmethod
    def i32(cls, value: int) -> UserValue:
        """An int32 value to scan for."""
        return cls(int32_value=value, uint32_value=value & 0xFFFF_FFFF, flags_bits=FLAGS_I32)


class Libmemscan:
    """One scanner of a loaded libmemscan; every call's status is checked."""

    def __init__(self, library: str | Path):
        lib = ctypes.CDLL(str(Path(library).resolve()))
        scanner, value = ctypes.c_void_p, ctypes.POINTER(UserValue)
        lib.lm_scanner_create.restype = scanner
        lib.lm_scanner_destroy.argtypes = [scanner]
        lib.lm_attach.argtypes = [scanner, ctypes.c_uint]
        lib.lm_set_scan_level.argtypes = [scanner, ctypes.c_int]
        lib.lm_set_data_type.argtypes = [scanner, ctypes.c_int]
        lib.lm_set_alignment.argtypes = [scanner, ctypes.c_uint16]
        lib.lm_snapshot.argtypes = [scanner]
        lib.lm_scan.argtypes = [scanner, ctypes.c_int, value, value]
        lib.lm_match_count.argtypes = [scanner]
        lib.lm_match_count.restype = ctypes.c_size_t
        lib.lm_status_name.restype = ctypes.c_char_p
        lib.lm_pointer_scan.argtypes = [
            scanner, ctypes.c_size_t, ctypes.c_char_p,
            ctypes.POINTER(PointerScanOptions), ctypes.POINTER(ctypes.c_uint64),
        ]  # fmt: skip
        lib.lm_pointer_map_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.lm_pointer_map_next.argtypes = [ctypes.c_void_p, ctypes.POINTER(PointerPathRecord)]
        lib.lm_pointer_map_close.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.scanner = lib.lm_scanner_create()
        if not self.scanner:
            raise RuntimeError("lm_scanner_create failed")

    def check(self, status: int, what: str) -> None:
        """Raise unless `status` is OK."""
        if status != OK:
            name = self.lib.lm_status_name(status).decode()
            raise RuntimeError(f"libmemscan {what}: {name} ({status})")

    def call(self, name: str, *args: object) -> None:
        """Calls ``lm_NAME(scanner, *args)`` and checks its status."""
        self.check(getattr(self.lib, f"lm_{name}")(self.scanner, *args), name)

    def scan(self, match: str, value: UserValue | None = None) -> int:
        """One scan (``eq`` with a value, ``increased`` without); the matches left."""
        self.call("scan", MATCH[match], ctypes.byref(value) if value else None, None)
        return int(self.lib.lm_match_count(self.scanner))

    def snapshot(self) -> int:
        """The first scan of an unknown value; the matches (every aligned slot)."""
        self.call("snapshot")
        return int(self.lib.lm_match_count(self.scanner))

    def close(self) -> None:
        """Frees the scanner."""
        self.lib.lm_scanner_destroy(self.scanner)
