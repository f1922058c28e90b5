"""The Python package runs wherever the engine does (Linux and Windows, docs/platforms.md): what
the OS knows comes from the engine (``memscan.list_processes()``, ``Process``), so nothing in
``python/memscan`` reads ``/proc`` or needs POSIX unless it checks for it first.

A scan of the package's syntax trees: strings in code (not docstrings or comments, which may
say how Linux does a thing) naming ``/proc``; modules only POSIX has, imported at module level
or without handling their absence; and POSIX-only calls and constants (``os.kill`` above all:
on Windows signal 0 terminates the process) outside a platform check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "python" / "memscan"

#: Modules that only some systems have: never imported at module level, and in a function only
#: where their absence is handled (``except ImportError``) or under a platform check.
POSIX_MODULES = frozenset(
    {"pwd", "grp", "fcntl", "termios", "tty", "pty", "resource", "readline", "posix", "syslog"}
)

#: Names of ``os`` and ``signal`` that only POSIX has, or that do something else on Windows.
POSIX_NAMES = {
    "os": {
        "kill",  # on Windows any signal but CTRL_C/CTRL_BREAK_EVENT terminates the process
        "killpg",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "getgroups",
        "fork",
        "forkpty",
        "setsid",
        "getpgid",
        "setpgid",
        "getsid",
        "uname",
        "sysconf",
        "getloadavg",
        "sched_getaffinity",
        "chown",
        "lchown",
        "fchown",
        "fchmod",
        "O_CLOEXEC",
        "O_NOFOLLOW",
        "O_NONBLOCK",
        "WNOHANG",
    },
    "signal": {
        "SIGKILL",
        "SIGSTOP",
        "SIGCONT",
        "SIGHUP",
        "SIGQUIT",
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
        "SIGCHLD",
        "SIGPIPE",
        "alarm",
        "pause",
        "pthread_kill",
        "setitimer",
    },
}

#: Code strings naming ``/proc`` that are justified, by (file, string), each with its reason.
ALLOWED_PROC = {
    ("io.py", "/proc/self/ns/pid"): (
        "tells containers apart in temporary files' names: pid namespaces are Linux's own, "
        "read under sys.platform == 'linux' and tolerant of OSError"
    ),
}


def _platform(test: ast.expr) -> bool | None:
    """True when ``test`` holds on POSIX only (``os.name == "posix"``, ``sys.platform ==
    "linux"``, ``sys.platform != "win32"``), False when it holds on Windows only, else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if not (isinstance(right, ast.Constant) and isinstance(right.value, str)):
        return None
    which = ast.unparse(left)
    if which == "os.name":
        posix = right.value == "posix"
    elif which == "sys.platform":
        posix = right.value != "win32"
    else:
        return None
    if isinstance(op, ast.Eq):
        return posix
    if isinstance(op, ast.NotEq):
        return not posix
    return None


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _under_posix(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` only runs on POSIX: in the POSIX branch of a platform check."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, (ast.If, ast.IfExp)):
            posix = _platform(parent.test)
            body = parent.body if isinstance(parent, ast.If) else [parent.body]
            if (posix is True and child in body) or (posix is False and child not in body):
                if child is not parent.test:
                    return True
        child, parent = parent, parents.get(parent)
    return False


def _at_import_time(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` runs when its module is imported: it is in no function."""
    parent = parents.get(node)
    while parent is not None:
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        parent = parents.get(parent)
    return True


def _handles_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` sits in the body of a ``try`` that catches ``ImportError``."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                caught = handler.type
                names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
                if any(ast.unparse(n) in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
        child, parent = parent, parents.get(parent)
    return False


def _docstrings(tree: ast.AST) -> set[ast.AST]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(first.value)
    return found


def problems(source: str, name: str) -> list[str]:
    """What in ``source`` (the file ``name``) assumes Linux or POSIX, one line each."""
    tree = ast.parse(source)
    parents = _parents(tree)
    docstrings = _docstrings(tree)
    found = []

    def at(node: ast.AST, what: str) -> None:
        found.append(f"{name}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "/proc" in node.value and node not in docstrings:
                if (name, node.value) not in ALLOWED_PROC:
                    at(node, f"names /proc: {node.value!r}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.Import):
                modules = [alias.name.split(".")[0] for alias in node.names]
            else:
                modules = [(node.module or "").split(".")[0]] if node.level == 0 else []
            for module in set(modules) & POSIX_MODULES:
                if _at_import_time(node, parents):
                    at(node, f"imports {module} at module level")
                elif not (_handles_import_error(node, parents) or _under_posix(node, parents)):
                    at(node, f"imports {module} without handling its absence")
            if isinstance(node, ast.ImportFrom) and node.module in POSIX_NAMES:
                for alias in node.names:
                    if alias.name in POSIX_NAMES[node.module]:
                        at(node, f"imports {node.module}.{alias.name}, which only POSIX has")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr in POSIX_NAMES.get(node.value.id, ()):
                if not _under_posix(node, parents):
                    what = f"{node.value.id}.{node.attr}"
                    at(node, f"uses {what} outside a POSIX check (os.name or sys.platform)")
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("CDLL"):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and first.value is None:
                if not _under_posix(node, parents):
                    at(node, "opens the C library as CDLL(None), which Windows refuses")
    return found


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_assumes_neither_proc_nor_posix():
    files = package_files()
    assert len(files) > 20 and PACKAGE / "cli.py" in files
    found = []
    for path in files:
        found += problems(path.read_text(), str(path.relative_to(PACKAGE)))
    assert not found, "\n".join(found)


def test_every_allowed_proc_string_is_still_there():
    for (name, text), reason in ALLOWED_PROC.items():
        assert reason and repr(text)[1:-1] in (PACKAGE / name).read_text(), (name, text)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ('open("/proc/self/maps")', "names /proc"),
        ('def f(pid):\n    return f"/proc/{pid}/stat"', "names /proc"),
        ("import pwd", "imports pwd at module level"),
        ("class C:\n    import termios", "imports termios at module level"),
        ("try:\n    import fcntl\nexcept ImportError:\n    pass", "imports fcntl at module"),
        ("def f():\n    import pwd", "imports pwd without handling"),
        ("def f():\n    try:\n        import grp\n    except OSError:\n        pass", "grp"),
        ("import os\nos.kill(1, 0)", "uses os.kill outside"),
        ("from os import kill", "imports os.kill"),
        ('if os.name == "nt":\n    os.kill(1, 0)', "uses os.kill outside"),
        ('if sys.platform != "linux":\n    os.getuid()', "uses os.getuid outside"),
        ('if sys.platform == "win32":\n    pass\nelse:\n    pass\nos.kill(1, 0)', "os.kill"),
        ("signal.SIGKILL", "uses signal.SIGKILL outside"),
        ("x = os.O_RDONLY | os.O_CLOEXEC", "uses os.O_CLOEXEC"),
        ("ctypes.CDLL(None).prctl(15)", "CDLL(None)"),
    ],
)
def test_the_scan_finds_what_it_looks_for(source, problem):
    found = problems(source, "example.py")
    assert len(found) == 1 and problem in found[0], found


@pytest.mark.parametrize(
    "source",
    [
        '"""Reads /proc/PID/maps on Linux."""',
        "def f():\n    '''Writes through /proc/PID/mem on Linux.'''",
        "# /proc/PID/stat\nx = 1",
        'if os.name == "posix":\n    os.kill(1, 0)',
        'if sys.platform == "linux":\n    signal.SIGKILL',
        'if os.name != "posix":\n    pass\nelse:\n    os.kill(1, 0)',
        'x = os.getuid() if sys.platform != "win32" else 0',
        "def f():\n    try:\n        import pwd\n    except ImportError:\n        pass",
        "def f():\n    try:\n        import readline\n"
        "    except (ImportError, OSError):\n        pass",
        'if sys.platform == "linux":\n    ctypes.CDLL(None)',
        "x = getattr(os, 'O_CLOEXEC', 0)",
    ],
)
def test_the_scan_accepts_what_is_guarded(source):
    assert problems(source, "example.py") == []
