"""Malformed device output: mutations of the real captures either parse or raise a
ParseError; never another exception, never a hang. Bounded: a fixed seed, 15,000 outputs,
at most 12 s."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

from orchestrator.errors import ParseError
from orchestrator.parsing import parse_output

CASES = Path(__file__).resolve().parents[1] / "parsers"
RUNS = 15000
BUDGET_S = 12.0
SLOW_S = 2.0  # a hang detector, not a timing: a parse takes milliseconds


def _captures() -> list[tuple[str, str]]:
    out = []
    for raw in sorted(CASES.glob("*/*/*.raw")):
        platform = raw.relative_to(CASES).parts[0]
        out.append((platform, raw.read_text(encoding="utf-8", errors="replace")))
    return out


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    if not lines:
        return text + "x"
    i = rng.randrange(len(lines))
    op = rng.randrange(7)
    if op == 0:  # cut a line short
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    elif op == 1:  # lose a line
        del lines[i]
    elif op == 2:  # repeat a line elsewhere
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 3:  # one character garbled
        chars = list(lines[i])
        if chars:
            chars[rng.randrange(len(chars))] = rng.choice("0123456789-+.:*#~x ()\t\x00é")
        lines[i] = "".join(chars)
    elif op == 4:  # an extreme value appended
        lines[i] += " " + rng.choice(["-", "999999999999", "nan", "inf", "1e400", "0x"])
    elif op == 5:  # every number on a line replaced by an extreme one
        lines[i] = re.sub(r"\d+", lambda _: str(rng.choice([0, 10**20, 777, 8, 9999999])), lines[i])
    else:  # the capture cut anywhere
        joined = "\n".join(lines)
        return joined[: rng.randrange(len(joined) + 1)]
    return "\n".join(lines)


def test_mutated_captures_parse_or_fail_cleanly() -> None:
    rng = random.Random(20261122)
    captures = _captures()
    assert len(captures) > 100
    started = time.monotonic()
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(RUNS):
        platform, text = rng.choice(captures)
        for _ in range(rng.randrange(1, 4)):
            text = _mutate(rng, text)
        began = time.monotonic()
        try:
            parse_output(platform, None, text)
            outcomes["parsed"] += 1
        except ParseError:
            outcomes["refused"] += 1
        took = time.monotonic() - began
        assert took < SLOW_S, (platform, took, text[:500])
        if time.monotonic() - started > BUDGET_S:
            break
    # both outcomes happen: mutations are neither all harmless nor all fatal
    assert outcomes["parsed"] > 0 and outcomes["refused"] > 0, outcomes
