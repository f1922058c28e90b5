"""ReClass.NET project files (``.rcnet``: a zip holding ``Data.xml``), both ways. A class is a
run of nodes whose sizes give the offsets; memscan writes gaps as hex nodes and reads hex
nodes back as gaps (ReClass's unknown memory). Pointers to classes and classes by value keep
their layouts (``reference`` to the class's uuid)."""

from __future__ import annotations

import base64
import io
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

from .._xml import parse_untrusted_xml
from ..errors import InvalidFile
from ..io import regular_file_stat
from .layout import Field, Layout, identifier

__all__ = ["layout_from_reclass", "layout_to_reclass"]

#: The largest project file and ``Data.xml`` accepted (a zip may expand far past its size).
MAX_FILE = 64 << 20
MAX_DATA = 64 << 20
#: Deepest nesting of classes by value or by pointer followed when reading.
MAX_DEPTH = 32

_NUMBERS = {
    "Int8Node": "i8", "Int16Node": "i16", "Int32Node": "i32", "Int64Node": "i64",
    "UInt8Node": "u8", "UInt16Node": "u16", "UInt32Node": "u32", "UInt64Node": "u64",
    "FloatNode": "f32", "DoubleNode": "f64", "BoolNode": "bool",
}  # fmt: skip
_TYPE_NODES = {t: n for n, t in _NUMBERS.items()}
_HEX = {"Hex8Node": 1, "Hex16Node": 2, "Hex32Node": 4, "Hex64Node": 8}
_VECTORS = {"Vector2Node": 2, "Vector3Node": 3, "Vector4Node": 4, "Matrix3x3Node": 9,
            "Matrix3x4Node": 12, "Matrix4x4Node": 16}  # fmt: skip
_POINTERS = {"PointerNode", "ClassPtrNode", "FunctionPtrNode", "VTableNode",
             "Utf8TextPtrNode", "Utf16TextPtrNode", "Utf32TextPtrNode"}  # fmt: skip


def _uuid(name: str) -> str:
    return base64.b64encode(uuid.uuid5(uuid.NAMESPACE_URL, f"memscan:{name}").bytes).decode()


def layout_to_reclass(layout: Layout) -> bytes:
    """A ``.rcnet`` project holding ``layout`` and every layout it points to or contains."""
    root = ET.Element("reclass", version=str(0x00010001),
                      type="x64" if layout.pointer_size == 8 else "x86")  # fmt: skip
    ET.SubElement(root, "custom_data")
    ET.SubElement(root, "type_mapping")
    ET.SubElement(root, "enums")
    classes = ET.SubElement(root, "classes")
    todo, done = [layout], set()
    while todo:
        current = todo.pop(0)
        if current.name in done:
            continue
        done.add(current.name)
        node = ET.SubElement(classes, "class", uuid=_uuid(current.name), name=current.name,
                             comment="", address="")  # fmt: skip
        at = 0
        for f in current.fields:
            _gap(node, at, f.offset)
            node.append(_node(f, layout.pointer_size))
            if f.layout is not None:
                todo.append(f.layout)
            at = f.end
        _gap(node, at, current.size)
    ET.indent(root)
    data = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Data.xml", data)
    return out.getvalue()


def _gap(parent: ET.Element, start: int, end: int) -> None:
    """Hex nodes over ``[start, end)``, widest first as alignment allows."""
    while start < end:
        width = next(w for w in (8, 4, 2, 1) if start % w == 0 and start + w <= end)
        ET.SubElement(parent, "node", type=f"Hex{8 * width}Node", name=f"pad_{start:x}",
                      comment="", hidden="false")  # fmt: skip
        start += width


def _node(f: Field, pointer_size: int) -> ET.Element:
    attrs = {"name": f.name, "comment": f.evidence, "hidden": "false"}
    if f.type == "ptr":
        e = _el("PointerNode", attrs)
        if f.layout is not None:
            ET.SubElement(e, "node", type="ClassInstanceNode", name="", comment="",
                          hidden="false", reference=_uuid(f.layout.name))  # fmt: skip
        return e
    if f.type == "struct" and f.layout is not None:
        inner = _el("ClassInstanceNode", attrs, reference=_uuid(f.layout.name))
        if f.count == 1:
            return inner
        e = _el("ArrayNode", attrs, count=str(f.count))
        e.append(inner)
        return e
    if f.type == "text":
        return _el("Utf8TextNode", attrs, length=str(f.size))
    if f.type == "utf16":
        return _el("Utf16TextNode", attrs, length=str(f.size // 2))
    if f.type == "bytes":
        e = _el("ArrayNode", attrs, count=str(f.size))
        ET.SubElement(e, "node", type="UInt8Node", name="", comment="", hidden="false")
        return e
    if f.count > 1:
        e = _el("ArrayNode", attrs, count=str(f.count))
        ET.SubElement(e, "node", type=_TYPE_NODES[f.type], name="", comment="", hidden="false")
        return e
    return _el(_TYPE_NODES[f.type], attrs)


def _el(kind: str, attrs: dict[str, str], **extra: str) -> ET.Element:
    return ET.Element("node", {"type": kind, **attrs, **extra})


def layout_from_reclass(source: str | Path | bytes, name: str | None = None) -> Layout:
    """The class ``name`` (default: the first) of a ``.rcnet`` project (a path or its bytes)."""
    where = "ReClass.NET project"
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        where = f"cannot load {str(path)!r}"
        if regular_file_stat(path, where).st_size > MAX_FILE:
            raise InvalidFile(f"{where}: larger than {MAX_FILE} bytes")
        data = path.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z, z.open("Data.xml") as f:
            xml = f.read(MAX_DATA + 1)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, RuntimeError) as e:
        raise InvalidFile(f"{where}: not a ReClass.NET project ({e})") from None
    if len(xml) > MAX_DATA:
        raise InvalidFile(f"{where}: Data.xml expands past {MAX_DATA} bytes")
    root = parse_untrusted_xml(xml, where)
    if root.tag != "reclass":
        raise InvalidFile(f"{where}: the root element is <{root.tag}>, not <reclass>")
    pointer_size = 4 if root.get("type") == "x86" else 8
    classes = {c.get("uuid", ""): c for c in root.iter("class")}
    if not classes:
        raise InvalidFile(f"{where}: no class")
    chosen = next(iter(classes.values()))
    if name is not None:
        chosen = next((c for c in classes.values() if c.get("name") == name), None)
        if chosen is None:
            raise InvalidFile(f"{where}: no class named {name!r}")
    return _Reader(classes, pointer_size, where).layout(chosen, ())


class _Reader:
    def __init__(self, classes: dict[str, Any], pointer_size: int, where: str) -> None:
        self.classes, self.ptr, self.where = classes, pointer_size, where
        self.done: dict[str, Layout] = {}

    def layout(self, node: Any, stack: tuple[str, ...]) -> Layout:
        key = node.get("uuid", "")
        if key in self.done:
            return self.done[key]
        if len(stack) > MAX_DEPTH:
            raise InvalidFile(f"{self.where}: classes nest deeper than {MAX_DEPTH}")
        fields: list[Field] = []
        at = 0
        for n in node.findall("node"):
            size, made = self.field(n, at, (*stack, key))
            if made is not None:
                made.name = _unique(made.name or f"f_{at:x}", {f.name for f in fields})
                fields.append(made)
            at += size
        layout = Layout(identifier(node.get("name") or "class"), max(at, 1), fields,
                        pointer_size=self.ptr)  # fmt: skip
        self.done[key] = layout
        return layout

    def referenced(self, n: Any, stack: tuple[str, ...], by_value: bool) -> Layout | None:
        ref = n.get("reference", "")
        target = self.classes.get(ref)
        if target is None:
            if by_value:
                raise InvalidFile(f"{self.where}: a class instance refers to no class ({ref!r})")
            return None
        if ref in stack:
            if by_value:
                raise InvalidFile(f"{self.where}: a class contains itself by value")
            return self.done.get(ref)  # a pointer back to a class being read: not followed
        return self.layout(target, stack)

    def field(self, n: Any, at: int, stack: tuple[str, ...]) -> tuple[int, Field | None]:
        kind, label = n.get("type", ""), identifier(n.get("name") or f"f_{at:x}")
        comment = n.get("comment", "")
        if kind in _HEX:
            return _HEX[kind], None
        if kind in _NUMBERS:
            t = _NUMBERS[kind]
            size = 1 if t == "bool" else int(t[1:]) // 8
            return size, Field(at, t, size, label, evidence=comment)
        if kind in _VECTORS:
            count = _VECTORS[kind]
            return 4 * count, Field(at, "f32", 4 * count, label, count=count, evidence=comment)
        if kind in ("Utf8TextNode", "Utf16TextNode", "Utf32TextNode"):
            unit = {"Utf8TextNode": 1, "Utf16TextNode": 2, "Utf32TextNode": 4}[kind]
            length = _count(n, "length", self.where)
            t = {1: "text", 2: "utf16", 4: "bytes"}[unit]
            return unit * length, Field(at, t, unit * length, label, evidence=comment)
        if kind in _POINTERS:
            inner = n.find("node")
            sub = None
            if kind == "ClassPtrNode":
                sub = self.referenced(n, stack, by_value=False)
            elif inner is not None and inner.get("type") == "ClassInstanceNode":
                sub = self.referenced(inner, stack, by_value=False)
            return self.ptr, Field(at, "ptr", self.ptr, label, evidence=comment, layout=sub)
        if kind == "ClassInstanceNode":
            sub = self.referenced(n, stack, by_value=True)
            assert sub is not None
            return sub.size, Field(at, "struct", sub.size, label, evidence=comment, layout=sub)
        if kind in ("ArrayNode", "ClassInstanceArrayNode"):
            count = _count(n, "count", self.where)
            inner = n.find("node")
            if inner is None:
                raise InvalidFile(f"{self.where}: an array at +{at:#x} has no element node")
            size, element = self.field(inner, 0, stack)
            if element is None or size == 0:
                return size * count, None
            if element.type in ("text", "utf16", "bytes", "ptr") or element.count > 1:
                return size * count, Field(at, "bytes", size * count, label, evidence=comment)
            if element.type == "u8" and inner.get("type") == "UInt8Node" and count > 1:
                return count, Field(at, "bytes", count, label, evidence=comment)
            return size * count, Field(
                at, element.type, size * count, label, count=count, evidence=comment,
                layout=element.layout,
            )  # fmt: skip
        if kind == "BitFieldNode":
            bits = _count(n, "bits", self.where)
            size = max(1, bits // 8)
            return size, Field(at, f"u{8 * size}", size, label, evidence=comment)
        raise InvalidFile(f"{self.where}: unknown node type {kind!r} at +{at:#x}")


def _count(n: Any, attr: str, where: str) -> int:
    try:
        value = int(n.get(attr, ""))
    except ValueError:
        raise InvalidFile(f"{where}: a {n.get('type')} has {attr}={n.get(attr)!r}") from None
    if not 0 < value <= 1 << 20:
        raise InvalidFile(f"{where}: a {n.get('type')} has {attr}={value}, out of range")
    return value


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 1
    while out in used:
        out, k = f"{name}_{k}", k + 1
    return out
