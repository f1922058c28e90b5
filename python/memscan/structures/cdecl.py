"""C struct declarations, both ways: a layout from ``struct name { ... };`` (with C's natural
alignment on an LP64 or 32-bit target) and a declaration from a layout."""

from __future__ import annotations

import re

from ..errors import InvalidArgument
from .layout import Field, Layout

__all__ = ["layout_from_c", "layout_to_c"]

#: Longest declaration text accepted, and deepest nesting of structs by value.
MAX_TEXT = 1 << 20
MAX_DEPTH = 32

_SCALARS = {
    "int8_t": "i8",
    "uint8_t": "u8",
    "int16_t": "i16",
    "uint16_t": "u16",
    "int32_t": "i32",
    "uint32_t": "u32",
    "int64_t": "i64",
    "uint64_t": "u64",
    "char": "i8",
    "signed char": "i8",
    "unsigned char": "u8",
    "short": "i16",
    "unsigned short": "u16",
    "int": "i32",
    "unsigned": "u32",
    "unsigned int": "u32",
    "long long": "i64",
    "unsigned long long": "u64",
    "float": "f32",
    "double": "f64",
    "bool": "bool",
    "_Bool": "bool",
    "char16_t": "u16",
}
#: Types whose size is the pointer size (``long`` too, on LP64 and ILP32 alike).
_WORDS = {
    "long": "i",
    "unsigned long": "u",
    "size_t": "u",
    "ssize_t": "i",
    "intptr_t": "i",
    "uintptr_t": "u",
    "ptrdiff_t": "i",
}
_C_NAMES = {
    "i8": "int8_t",
    "u8": "uint8_t",
    "i16": "int16_t",
    "u16": "uint16_t",
    "i32": "int32_t",
    "u32": "uint32_t",
    "i64": "int64_t",
    "u64": "uint64_t",
    "f32": "float",
    "f64": "double",
    "bool": "_Bool",
}
#: A member's type, element size, alignment, element count and nested layout; and its name too.
_Element = tuple[str, int, int, int, "Layout | None"]
_Member = tuple[str, str, int, int, int, "Layout | None"]
_STRUCT = re.compile(
    r"(typedef\s+)?struct\s*([A-Za-z_]\w*)?\s*(?:__attribute__\s*\(\(\s*packed\s*\)\)\s*)?"
    r"\{(?P<body>[^{}]*)\}\s*([A-Za-z_]\w*)?\s*;"
)
_MEMBER = re.compile(
    r"^(?P<type>(?:(?:const|volatile|signed|unsigned|struct)\s+)*[A-Za-z_]\w*"
    r"(?:\s+(?:short|int|long|char))*(?:\s+long)?)"
    r"(?P<decls>.+)$",
    re.S,
)
_DECL = re.compile(
    r"^(?P<stars>[\s*]*(?:const\s*)?)(?P<name>[A-Za-z_]\w*)\s*"
    r"(?P<dims>(?:\[\s*\d+\s*\]\s*)*)$"
)
_FNPTR = re.compile(r"^[\w\s*]+\(\s*\*\s*(?P<name>[A-Za-z_]\w*)\s*\)\s*\(.*\)$", re.S)


def layout_from_c(text: str, name: str | None = None, *, pointer_size: int = 8) -> Layout:
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"C declaration longer than {MAX_TEXT} characters")
    if pointer_size not in (4, 8):
        raise InvalidArgument(f"pointer_size must be 4 or 8, got {pointer_size}")
    source = re.sub(r"//[^\n]*|/\*.*?\*/|#[^\n]*", " ", text, flags=re.S)
    bodies: dict[str, tuple[str, bool]] = {}
    order: list[str] = []
    for m in _STRUCT.finditer(source):
        tag = m.group(4) if m.group(1) and m.group(4) else m.group(2) or m.group(4)
        if not tag:
            raise InvalidArgument("a struct without a name (give it a tag or a typedef name)")
        packed = "packed" in source[m.start() : m.start("body")]
        bodies[tag] = (m.group("body"), packed)
        if m.group(2):
            bodies.setdefault(m.group(2), (m.group("body"), packed))
        order.append(tag)
    if not order:
        raise InvalidArgument("no struct declaration found (expected 'struct name { ... };')")
    target = name or order[-1]
    if target not in bodies:
        raise InvalidArgument(f"no struct named {target!r}; found {', '.join(order)}")
    parser = _Parser(bodies, pointer_size)
    layout, _align = parser.layout(target, ())
    return layout


class _Parser:
    def __init__(self, bodies: dict[str, tuple[str, bool]], pointer_size: int) -> None:
        self.bodies = bodies
        self.ptr = pointer_size
        self.done: dict[str, tuple[Layout, int]] = {}

    def layout(self, tag: str, stack: tuple[str, ...]) -> tuple[Layout, int]:
        if tag in self.done:
            return self.done[tag]
        if tag in stack or len(stack) > MAX_DEPTH:
            raise InvalidArgument(
                f"struct {tag} contains itself (or nests deeper than {MAX_DEPTH})"
            )
        body, packed = self.bodies[tag]
        fields: list[Field] = []
        offset, align_max = 0, 1
        for raw in body.split(";"):
            member = " ".join(raw.split())
            if not member:
                continue
            for name, type_name, size, align, count, sub in self.members(member, (*stack, tag)):
                align = 1 if packed else align
                offset = -(-offset // align) * align
                if not name.startswith("_pad_"):  # padding written by layout_to_c
                    fields.append(
                        Field(offset, type_name, size * count, name, count=count, layout=sub)
                    )
                offset += size * count
                align_max = max(align_max, align)
        size = -(-max(offset, 1) // align_max) * align_max
        result = (Layout(tag, size, fields, pointer_size=self.ptr), align_max)
        self.done[tag] = result
        return result

    def members(self, member: str, stack: tuple[str, ...]) -> list[_Member]:
        fn = _FNPTR.match(member)
        if fn:
            return [(fn.group("name"), "ptr", self.ptr, self.ptr, 1, None)]
        m = _MEMBER.match(member)
        if not m:
            raise InvalidArgument(f"cannot read the member {member!r}")
        base = " ".join(w for w in m.group("type").split() if w not in ("const", "volatile"))
        out = []
        for decl in m.group("decls").split(","):
            d = _DECL.match(decl.strip())
            if not d:
                raise InvalidArgument(f"cannot read the member {member!r}")
            dims = [int(x) for x in re.findall(r"\d+", d.group("dims"))]
            count = 1
            for x in dims:
                count *= x
            if count <= 0 or count > MAX_TEXT:
                raise InvalidArgument(f"array size {count} in {member!r} is out of range")
            out.append(
                (d.group("name"), *self.element(base, "*" in d.group("stars"), count, stack))
            )
        return out

    def element(self, base: str, pointer: bool, count: int, stack: tuple[str, ...]) -> _Element:
        """(type, element size, alignment, count, nested layout) of a member."""
        if pointer:
            sub = None
            tag = base.removeprefix("struct ").strip()
            if base.startswith("struct ") and tag in self.bodies and tag not in stack:
                sub = self.layout(tag, stack)[0]
            return "ptr", self.ptr, self.ptr, count, sub
        if base in ("char", "signed char") and count > 1:
            return "text", count, 1, 1, None
        if base == "unsigned char" and count > 1:
            return "bytes", count, 1, 1, None
        if base == "char16_t" and count > 1:
            return "utf16", 2 * count, 2, 1, None
        if base in _SCALARS:
            t = _SCALARS[base]
            size = 1 if t == "bool" else int(t[1:]) // 8
            return t, size, size, count, None
        if base in _WORDS:
            t = f"{_WORDS[base]}{8 * self.ptr}"
            return t, self.ptr, self.ptr, count, None
        tag = base.removeprefix("struct ").strip()
        if tag in self.bodies:
            sub, align = self.layout(tag, stack)
            return "struct", sub.size, align, count, sub
        raise InvalidArgument(f"unknown type {base!r} (declare struct {tag} before using it)")


def layout_to_c(layout: Layout) -> str:
    out: list[str] = []
    _declare(layout, out, set())
    return "\n\n".join(out) + "\n"


def _declare(layout: Layout, out: list[str], done: set[str]) -> None:
    done.add(layout.name)
    for f in layout.fields:
        if f.layout is not None and f.layout.name not in done:
            _declare(f.layout, out, done)
    lines = [f"struct {layout.name} {{"]
    at = 0
    for f in layout.fields:
        if f.offset > at:
            lines.append(f"    unsigned char _pad_{at:x}[{f.offset - at}]; /* {at:#x} */")
        lines.append(f"    {_c_member(f, layout.pointer_size)}; /* {f.offset:#x} */")
        at = f.end
    if at < layout.size:
        lines.append(f"    unsigned char _pad_{at:x}[{layout.size - at}]; /* {at:#x} */")
    lines.append("};")
    out.append("\n".join(lines))


def _c_member(f: Field, pointer_size: int) -> str:
    dims = f"[{f.count}]" if f.count > 1 else ""
    if f.type == "ptr":
        target = f"struct {f.layout.name}" if f.layout is not None else "void"
        return f"{target} *{f.name}{dims}"
    if f.type == "struct" and f.layout is not None:
        return f"struct {f.layout.name} {f.name}{dims}"
    if f.type == "text":
        return f"char {f.name}[{f.size}]"
    if f.type == "utf16":
        return f"char16_t {f.name}[{f.size // 2}]"
    if f.type == "bytes":
        return f"unsigned char {f.name}[{f.size}]"
    return f"{_C_NAMES[f.type]} {f.name}{dims}"
