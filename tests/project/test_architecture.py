"""The core's layering (rust/memscan-core/src/lib.rs): a module uses only lower layers, so
the crate has no import cycles and the read layer stays below every feature."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).parents[2] / "rust" / "memscan-core" / "src"

#: Lowest first, as lib.rs documents it.
LAYERS = [
    {"error"},
    {"value", "region", "pattern"},
    {"platform"},
    {"read"},
    {"files"},
    {"modules"},
    {"image"},
    {"process"},
    {"scan", "pointer", "analysis", "save_image", "edit", "freeze", "code"},
    {"watch", "address", "structure"},
    {"tables"},
]


def uses(module: str) -> set[str]:
    files = [SRC / f"{module}.rs"] if (SRC / f"{module}.rs").exists() else []
    files += sorted((SRC / module).rglob("*.rs")) if (SRC / module).is_dir() else []
    assert files, module
    text = "\n".join(f.read_text() for f in files)
    used = set(re.findall(r"crate::([a-z_]+)", text))
    # `use crate::{a, b}` and root re-exports name modules too.
    for group in re.findall(r"use crate::\{([^}]*)\}", text):
        used |= set(re.findall(r"\b([a-z_]+)\b", group))
    return used - {module}


def test_every_core_module_has_a_layer():
    modules = {p.stem for p in SRC.glob("*.rs")} | {p.name for p in SRC.iterdir() if p.is_dir()}
    modules -= {"lib"}
    assert modules == set().union(*LAYERS)


def test_modules_use_only_lower_layers():
    layer_of = {m: k for k, layer in enumerate(LAYERS) for m in layer}
    wrong = []
    for module, k in layer_of.items():
        for used in uses(module) & layer_of.keys():
            if layer_of[used] >= k:
                wrong.append(f"{module} (layer {k + 1}) uses {used} (layer {layer_of[used] + 1})")
    assert not wrong, wrong
