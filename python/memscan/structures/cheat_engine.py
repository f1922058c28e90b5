"""Cheat Engine's structure XML (Dissect data/structures' export, and the ``<Structures>`` of a
``.CT`` table), both ways. Pointers name their child structure (``ChildStruct``); elements
repeated with ``RLECount`` are expanded."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .._xml import parse_untrusted_xml
from ..errors import InvalidFile
from .layout import Field, Layout, identifier

__all__ = ["layout_from_ce", "layout_to_ce"]

#: Cheat Engine's Vartype names by field type, and back.
_VARTYPE = {
    "i8": "Byte",
    "u8": "Byte",
    "bool": "Byte",
    "i16": "2 Bytes",
    "u16": "2 Bytes",
    "i32": "4 Bytes",
    "u32": "4 Bytes",
    "i64": "8 Bytes",
    "u64": "8 Bytes",
    "f32": "Float",
    "f64": "Double",
    "ptr": "Pointer",
    "text": "String",
    "utf16": "Unicode String",
    "bytes": "Array of byte",
}
_FROM_VARTYPE = {
    "Byte": "u8",
    "2 Bytes": "u16",
    "4 Bytes": "u32",
    "8 Bytes": "u64",
    "Float": "f32",
    "Double": "f64",
    "Pointer": "ptr",
    "String": "text",
    "Unicode String": "utf16",
    "Array of byte": "bytes",
}
#: Most elements one structure may expand to (RLECount included).
MAX_ELEMENTS = 1 << 16


def layout_to_ce(layout: Layout) -> str:
    root = ET.Element("Structures", StructVersion="2")
    done: set[str] = set()
    _structure(root, layout, done)
    ET.indent(root)
    return ET.tostring(root, "unicode") + "\n"


def _structure(root: ET.Element, layout: Layout, done: set[str]) -> None:
    done.add(layout.name)
    s = ET.SubElement(
        root,
        "Structure",
        Name=layout.name,
        AutoFill="0",
        AutoCreate="1",
        DefaultHex="0",
        AutoDestroy="0",
        DoNotSaveLocal="0",
        RLECompression="0",
        AutoCreateStructsize=str(layout.size),
    )
    elements = ET.SubElement(s, "Elements")
    children = []
    for name, offset, f in layout.leaves():
        for k in range(f.count if f.type not in ("text", "utf16", "bytes") else 1):
            size = f.element_size if f.type not in ("text", "utf16", "bytes") else f.size
            at = offset + k * size
            signed = f.type.startswith("i") or f.type in ("f32", "f64")
            attrs = {
                "Offset": str(at),
                "Vartype": _VARTYPE[f.type],
                "Bytesize": str(size),
                "OffsetHex": f"{at:08X}",
                "Description": name + (f"[{k}]" if f.count > 1 else ""),
                "DisplayMethod": "signed integer" if signed else "unsigned integer",
            }
            if f.type == "ptr" and f.layout is not None:
                attrs["ChildStruct"] = f.layout.name
                children.append(f.layout)
            ET.SubElement(elements, "Element", attrs)
    for child in children:
        if child.name not in done:
            _structure(root, child, done)


def layout_from_ce(xml: str | bytes) -> Layout:
    data = xml.encode() if isinstance(xml, str) else xml
    root = parse_untrusted_xml(data, "Cheat Engine structure")
    structures = [root] if root.tag == "Structure" else list(root.iter("Structure"))
    if not structures:
        raise InvalidFile("Cheat Engine structure: no <Structure> element")
    by_name = {s.get("Name", ""): s for s in structures}
    return _layout(structures[0], by_name, set())


def _int(node: Any, attr: str, where: str) -> int:
    text = node.get(attr)
    try:
        value = int(text or "")
    except ValueError:
        raise InvalidFile(f"Cheat Engine structure: {where} has {attr}={text!r}") from None
    if not 0 <= value < 1 << 24:
        raise InvalidFile(f"Cheat Engine structure: {where} has {attr}={value}, out of range")
    return value


def _layout(node: Any, by_name: dict[str, Any], seen: set[str]) -> Layout:
    name = identifier(node.get("Name") or "structure")
    seen = seen | {node.get("Name", "")}
    fields: list[Field] = []
    used: set[str] = set()
    for e in node.iter("Element"):
        where = f"element at {e.get('Offset')!r} of {name}"
        vartype = e.get("Vartype", "")
        if vartype not in _FROM_VARTYPE:
            raise InvalidFile(f"Cheat Engine structure: {where} has unknown Vartype {vartype!r}")
        t = _FROM_VARTYPE[vartype]
        if t.startswith("u") and e.get("DisplayMethod") == "signed integer":
            t = "i" + t[1:]
        offset, size = _int(e, "Offset", where), _int(e, "Bytesize", where)
        repeat = _int(e, "RLECount", where) if e.get("RLECount") else 1
        if len(fields) + repeat > MAX_ELEMENTS:
            raise InvalidFile(f"Cheat Engine structure: more than {MAX_ELEMENTS} elements")
        child = e.get("ChildStruct")
        for k in range(repeat):
            base = identifier(e.get("Description") or f"f_{offset + k * size:x}")
            label = base if base not in used else f"{base}_{offset + k * size:x}"
            used.add(label)
            f = Field(offset + k * size, t, size, label)
            if child and child in by_name and child not in seen:
                f.layout = _layout(by_name[child], by_name, seen)
            fields.append(f)
    fields.sort(key=lambda f: f.offset)
    kept: list[Field] = []
    for f in fields:  # Cheat Engine lets elements overlap; the first one at a byte wins
        if not kept or f.offset >= kept[-1].end:
            kept.append(f)
    if not kept:
        raise InvalidFile(f"Cheat Engine structure: {name} has no elements")
    return Layout(name, kept[-1].end, kept)  # its size: where the last element ends
