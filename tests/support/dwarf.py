"""Ground truth for structure dissection: a struct's leaf fields as the compiler laid them out,
read from the DWARF of a C target with ``gdb -batch -ex 'ptype /o struct NAME'``."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_LEAF = re.compile(r"^/\*\s+(\d+)\s+\|\s+(\d+)\s+\*/\s+(.*);\s*$")


@dataclass(frozen=True)
class TrueField:
    offset: int
    size: int
    family: str
    name: str
    declaration: str


def struct_fields(binary: Path, struct: str) -> list[TrueField]:
    """The leaf fields of ``struct NAME`` (nested structs flattened, holes left out)."""
    out = subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", f"ptype /o struct {struct}", str(binary)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = []
    for line in out.splitlines():
        m = _LEAF.match(line.strip())
        if m:
            decl = m.group(3).strip()
            name = re.findall(r"([A-Za-z_]\w*)\s*(?:\)\s*\(.*\))?(?:\[\d+\])*$", decl)
            fields.append(
                TrueField(
                    int(m.group(1)), int(m.group(2)), _family(decl), name[0] if name else decl, decl
                )
            )
    if not fields:
        raise RuntimeError(f"gdb found no struct {struct} in {binary}:\n{out}")
    return fields


def _family(decl: str) -> str:
    if "(*" in decl or "*" in decl:
        return "pointer"
    if "[" in decl and re.match(r"^(const\s+)?(char|char16_t|wchar_t)\b", decl):
        return "text"
    if re.match(r"^(float|double)\b", decl):
        return "float"
    return "int"


def accuracy(truth: list[TrueField], fields) -> tuple[float, list[TrueField]]:
    """Share of true fields found with the same offset, size and type family (predicted
    fields: anything with offset, size and a ``type`` that ``memscan.structures.family``
    reads), and the fields missed."""
    from memscan.structures import family

    got = {(f.offset, f.size, family(f.type)) for f in fields}
    missed = [t for t in truth if (t.offset, t.size, t.family) not in got]
    return 1 - len(missed) / len(truth), missed
