"""XML from files memscan did not write, parsed with the limits every such file gets."""

from __future__ import annotations

from typing import Any

from .errors import InvalidFile

#: Deepest element nesting and most elements accepted.
MAX_XML_DEPTH = 256
MAX_XML_ELEMENTS = 1_000_000


class _Rejected(Exception):
    """Raised inside the XML parser's handlers to stop on input memscan does not accept."""


def parse_untrusted_xml(data: bytes, where: str) -> Any:
    """Parses XML from a file memscan did not write (Cheat Engine tables and structures) with
    expat, refusing any DTD (so no entity can be declared, expanded or fetched), nesting deeper
    than MAX_XML_DEPTH and more than MAX_XML_ELEMENTS elements. Returns the root element."""
    import xml.etree.ElementTree as ET
    from xml.parsers import expat

    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    depth = count = 0

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth, count
        depth += 1
        count += 1
        if depth > MAX_XML_DEPTH:
            raise _Rejected(f"elements nested more than {MAX_XML_DEPTH} deep")
        if count > MAX_XML_ELEMENTS:
            raise _Rejected(f"more than {MAX_XML_ELEMENTS} elements")
        builder.start(tag, attrs)

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(tag)

    def no_dtd(*_: Any) -> Any:
        raise _Rejected(
            "it declares a DTD, which Cheat Engine tables never do (its entities could expand "
            "without bound or read other files)"
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_dtd
    parser.UnparsedEntityDeclHandler = no_dtd
    parser.ExternalEntityRefHandler = no_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise InvalidFile(
            f"{where}: not well-formed XML ({expat.ErrorString(e.code)} at line {e.lineno}, "
            f"column {e.offset})"
        ) from None
    except _Rejected as e:
        raise InvalidFile(f"{where}: {e}") from None
    return builder.close()
