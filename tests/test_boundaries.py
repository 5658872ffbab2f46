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
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _py_files(sub: str = "") -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _py_files("ntp"), ids=lambda p: p.name)
def test_ntp_core_does_no_io(path: Path) -> None:
    bad = {n for n in _imports(path) if _top(n) in IO_MODULES}
    assert not bad, f"{path} imports I/O modules {bad}; the protocol core must stay pure"


def test_only_session_imports_ssh_libraries() -> None:
    offenders = []
    for path in _py_files():
        if path.relative_to(PKG).as_posix() in {"drivers/session.py"}:
            continue
        if path.relative_to(PKG).parts[0] == "lab":
            # The lab is the *device* side: it may use asyncssh, never netmiko/napalm/paramiko.
            pass
        bad = {n for n in _imports(path) if _top(n) in SSH_LIBS}
        if bad:
            offenders.append(f"{path.relative_to(PKG)}: {sorted(bad)}")
    assert not offenders, (
        "only drivers/session.py may import netmiko/napalm/paramiko: " + "; ".join(offenders)
    )


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


def test_only_cli_prints() -> None:
    offenders = []
    for path in _py_files():
        if path.relative_to(PKG).parts[0] == "cli" or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
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
    assert not offenders, f"only cli/ prints or exits: {offenders}"
