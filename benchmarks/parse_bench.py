"""Parse 10,000 IOS `show ntp associations` outputs; print time, rate and a peer ratio.

Target: under 5 s for 10,000 outputs. The peer is textfsm's own clitable
(`CliTable.ParseCmd`, the way ntc-templates users parse), which re-reads the
template on every call; orch keeps one compiled FSM per template and resets it.

    /work/venv/bin/python benchmarks/parse_bench.py [COUNT]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from textfsm import clitable

from orchestrator.parsing import parse_output
from orchestrator.parsing.templates import templates_dir

ROOT = Path(__file__).resolve().parent.parent
# A real capture (genieparser IOS-XE golden output 3): sys.peer, candidate, a stratum-16 row.
CASES = ROOT / "tests/parsers/cisco_xe/show_ntp_associations"
SAMPLE = CASES / "genie_gnss_candidate_stratum16_when_with_reach0.raw"
TARGET_S = 5.0


def bench_orch(text: str, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        parsed = parse_output("cisco_ios", "show ntp associations", text)
    elapsed = time.perf_counter() - start
    assert parsed.associations is not None and len(parsed.associations) == 3
    return elapsed


def bench_clitable(text: str, count: int) -> float:
    table = clitable.CliTable("index", str(templates_dir()))
    attributes = {"Command": "show ntp associations", "Platform": "cisco_ios"}
    start = time.perf_counter()
    for _ in range(count):
        table.ParseCmd(text, attributes)
    elapsed = time.perf_counter() - start
    assert table.size == 3
    return elapsed


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    text = SAMPLE.read_text(encoding="utf-8")
    parse_output("cisco_ios", "show ntp associations", text)  # warm the template cache
    orch_s = bench_orch(text, count)
    peer_count = max(1, count // 10)  # the peer is slower; time a tenth and scale
    peer_s = bench_clitable(text, peer_count) * (count / peer_count)
    print(f"orch parse_output : {count} outputs in {orch_s:.2f} s ({count / orch_s:,.0f}/s)")
    print(
        f"textfsm clitable  : {count} outputs in {peer_s:.2f} s ({count / peer_s:,.0f}/s, "
        f"extrapolated from {peer_count})"
    )
    print(f"ratio clitable/orch: {peer_s / orch_s:.1f}x")
    ok = orch_s < TARGET_S
    print(f"target < {TARGET_S:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
