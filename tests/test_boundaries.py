"""DESIGN.md's layer boundaries, checked by reading imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "orchestrator"

IO_MODULES = {
    "socket",
    "asyncio",
    "selectors",
    "subprocess",
    "threading",
    "time",
    "os",
    "sqlite3",
    "paramiko",
    "netmiko",
    "napalm",
    "asyncssh",
    "requests",
    "urllib",
}
SSH_LIBS = {"netmiko", "napalm", "paramiko"}


def _imports(path: Path) -> set[str]:
    """Every module `path` imports; `from orchestrator import cli` counts as
    `orchestrator.cli` (a name imported from a package may be its submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _relative_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]


def _py_files(sub: str = "") -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _py_files("ntp"), ids=lambda p: p.name)
def test_ntp_core_does_no_io(path: Path) -> None:
    bad = {n for n in _imports(path) if _top(n) in IO_MODULES}
    assert not bad, f"{path} imports I/O modules {bad}; the protocol core must stay pure"


TRANSPORT = ("drivers", "transport")


def test_only_the_transport_layer_imports_ssh_libraries() -> None:
    # The lab is the *device* side: it may use asyncssh, never netmiko/napalm/paramiko.
    offenders = []
    for path in _py_files():
        if path.relative_to(PKG).parts[:2] == TRANSPORT:
            continue
        bad = {n for n in _imports(path) if _top(n) in SSH_LIBS}
        if bad:
            offenders.append(f"{path.relative_to(PKG)}: {sorted(bad)}")
    assert not offenders, (
        "only drivers/transport/ may import netmiko/napalm/paramiko: " + "; ".join(offenders)
    )


@pytest.mark.parametrize("name", ["cli_session.py", "shell.py"])
def test_cli_platforms_differ_by_dialect_not_by_branches(name: str) -> None:
    """The CLI session code names no platform: what differs is in dialect.py."""
    tree = ast.parse((PKG / "drivers" / "transport" / name).read_text())
    named = [
        f"{name}:{node.lineno} {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(p in node.value.lower() for p in ("cisco", "catos", "ios", "(enable)"))
        and not (node.value.startswith(("`", "An ", "CLI ", "Login", "Send")) or "\n" in node.value)
    ]
    assert not named, f"platform-specific text outside the dialects: {named}"


def test_no_relative_imports() -> None:
    offenders = [
        f"{p.relative_to(PKG)}:{line}" for p in _py_files() for line in _relative_imports(p)
    ]
    assert not offenders, f"use absolute imports (orchestrator....): {offenders}"


def test_nothing_imports_cli() -> None:
    offenders = [
        str(p.relative_to(PKG))
        for p in _py_files()
        if p.relative_to(PKG).parts[0] != "cli"
        and p.name != "__main__.py"
        and any(n.startswith("orchestrator.cli") for n in _imports(p))
    ]
    assert not offenders, f"these modules import the CLI: {offenders}"


def test_only_cli_imports_lab() -> None:
    offenders = [
        str(p.relative_to(PKG))
        for p in _py_files()
        if p.relative_to(PKG).parts[0] not in {"cli", "lab"}
        and any(n.startswith("orchestrator.lab") for n in _imports(p))
    ]
    assert not offenders, f"only cli/ may import the lab: {offenders}"


@pytest.mark.parametrize("sub", ["compliance"])
def test_compliance_never_fetches(sub: str) -> None:
    for path in _py_files(sub):
        bad = {
            n
            for n in _imports(path)
            if _top(n) in IO_MODULES | {"orchestrator"}
            and (
                _top(n) in IO_MODULES
                or n.startswith(
                    (
                        "orchestrator.drivers",
                        "orchestrator.engine",
                        "orchestrator.serve",
                        "orchestrator.store",
                    )
                )
            )
        }
        assert not bad, f"{path} imports {bad}; compliance decides from data only"


def _main_guard_lines(tree: ast.Module) -> set[int]:
    """Lines of `if __name__ == "__main__":` blocks: a process entry point may exit."""
    lines: set[int] = set()
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        ):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def test_only_cli_prints() -> None:
    offenders = []
    for path in _py_files():
        if path.relative_to(PKG).parts[0] == "cli" or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        entry = _main_guard_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", 0) in entry:
                continue
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "print"
            ):
                offenders.append(f"{path.relative_to(PKG)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "exit"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                offenders.append(f"{path.relative_to(PKG)}:{node.lineno} sys.exit")
            if isinstance(node, ast.Name) and node.id == "SystemExit":
                offenders.append(f"{path.relative_to(PKG)}:{node.lineno} SystemExit")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("Exit", "Abort")
                and isinstance(node.value, ast.Name)
                and node.value.id == "typer"
            ):
                offenders.append(f"{path.relative_to(PKG)}:{node.lineno} typer.{node.attr}")
        if any(_top(n) == "typer" for n in _imports(path)):
            offenders.append(f"{path.relative_to(PKG)} imports typer")
    assert not offenders, f"only cli/ prints or exits: {offenders}"
