"""Release engineering: one version, written once (the Cargo workspace), that the wheel's
metadata, the native module and ``memscan.__version__`` all report; the extension built for the
stable ABI (one wheel for every CPython >= 3.11). CI builds that wheel and runs the demo from it
in a fresh venv without Rust (.ci/run)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

import memscan
from memscan import _native

ROOT = Path(__file__).parents[2]


def cargo(path: str) -> dict:
    return tomllib.loads((ROOT / path).read_text())


def test_the_version_is_written_once_and_reported_everywhere():
    workspace = cargo("Cargo.toml")["workspace"]["package"]["version"]
    binding = cargo("rust/memscan-py/Cargo.toml")["package"]
    assert binding["version"] == {"workspace": True}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and project["dynamic"] == ["version"]  # maturin reads Cargo
    assert memscan.__version__ == _native.__version__ == workspace
    assert Version(version("memscan")) == Version(workspace)


def test_the_extension_uses_the_stable_abi():
    assert Path(_native.__file__).name == "_native.abi3.so"
    pyo3 = cargo("rust/memscan-py/Cargo.toml")["dependencies"]["pyo3"]
    (abi3,) = [f for f in pyo3["features"] if f.startswith("abi3-py")]
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert re.fullmatch(r">=3\.(\d+)", floor).group(1) == abi3.removeprefix("abi3-py3")


def test_ci_runs_the_demo_from_the_wheel_without_rust():
    ci = (ROOT / ".ci" / "run").read_text()
    readme_test = re.search(
        r"## Run the tests\n\n```sh\n(.+)\n```", (ROOT / "README.md").read_text()
    )
    assert readme_test and readme_test.group(1) in ci  # the README's test command, exactly
    assert "maturin build --release" in ci and "python -m venv" in ci
    # Only the venv and a directory of shell tools are on PATH (never /usr/bin, where Debian's
    # cargo may live), and the check refuses to go on when Rust is found there.
    assert 'PATH="$venv/bin:$tools"' in ci and "memscan demo" in ci
    assert "command -v cargo || command -v rustc" in ci
