"""Malformed inventories: mutations of the example inventory either load or raise an
InputError (one line, exit 2 in the CLI); never another exception. Bounded: a fixed seed,
at most 1,500 inventories and 6 s."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

from orchestrator.errors import InputError
from orchestrator.inventory import load_inventory

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example"
RUNS = 1500
BUDGET_S = 6.0
APPENDED = [": 1", " [", " {", ": ~", ": !!binary AA==", ": .nan", ": 1e400", ": -1",
            ": 99999999999999999999", ": &a", ": *a", ": !!python/object:os.system x"]  # fmt: skip


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    op = rng.randrange(7)
    if op == 0:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    elif op == 1:
        del lines[i]
    elif op == 2:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 3:
        chars = list(lines[i])
        if chars:
            chars[rng.randrange(len(chars))] = rng.choice(":-[]{}!&*#|>'\"%@` \t~\x00é")
        lines[i] = "".join(chars)
    elif op == 4:
        lines[i] = " " * rng.randrange(1, 5) + lines[i]
    elif op == 5:
        lines[i] += rng.choice(APPENDED)
    else:
        lines[i] = re.sub(r"\d+", lambda _: str(rng.choice([0, 10**30, 70000])), lines[i])
    return "\n".join(lines) + "\n"


def test_mutated_inventories_load_or_fail_cleanly(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    files = {p.name: p.read_text() for p in EXAMPLE.glob("*.yaml")}
    assert set(files) == {"hosts.yaml", "groups.yaml", "defaults.yaml"}
    started = time.monotonic()
    outcomes = {"loaded": 0, "refused": 0}
    for n in range(RUNS):
        directory = tmp_path / f"inv{n}"
        directory.mkdir()
        target = rng.choice(sorted(files))
        for name, text in files.items():
            if name == target:
                for _ in range(rng.randrange(1, 4)):
                    text = _mutate(rng, text)
            (directory / name).write_text(text)
        try:
            load_inventory(directory, resolve_secrets=False)
            outcomes["loaded"] += 1
        except InputError as exc:
            # every problem line names the file it is in
            for line in str(exc).strip().splitlines():
                assert line.startswith(str(directory)), line
            outcomes["refused"] += 1
        if time.monotonic() - started > BUDGET_S:
            break
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes
