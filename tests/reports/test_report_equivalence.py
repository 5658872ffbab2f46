"""The cheaper report path gives the same reports as before, byte for byte.

A generated history across sites (several sites and runs, one run judging two sites,
devices changing verdict from run to run, a site whose last run is older) is stored in
a real SQLite file and reported as the CLI does (`read_report`); the JSON and HTML of
the report across sites (the "large" path) and of one site must equal the outputs the
previous implementation wrote for the same data (tests/reports/fixtures/*.gz, made by
running this file as a script before the change; the across-sites ones made again when
"changed since the previous run" was fixed to compare each site with its own previous run).
"""

from __future__ import annotations

import dataclasses
import gzip
import sys
from pathlib import Path

import pytest
from compliance.compliance_samples import host, ios_state

from orchestrator import __version__
from orchestrator.compliance import evaluate
from orchestrator.models import DeviceVerdict
from orchestrator.reports import ReportInput, render
from orchestrator.reports.data import Scope
from orchestrator.reports.json_report import render_json
from orchestrator.store import HistoryStore, StoreTarget, resolve_target

FIXTURES = Path(__file__).parent / "fixtures"
START = 1_800_000_000.0
HOUR_S = 3600.0
SITES = ("north", "south", "east", "west")
DEVICES = 55  # 4 x 55 = 220 devices: the large report's path
RUNS = 5
NOW = START + RUNS * HOUR_S + 600


def site_run(site: str, run: int, at: float, devices: int = DEVICES) -> list[DeviceVerdict]:
    out = []
    for i in range(devices):
        h = dataclasses.replace(host(f"{site}-r{i:02d}", hostname=f"10.{run}.{i}.1"), site=site)
        drifting = i % 20 == 7 or (i + run) % 11 == 0
        state = ios_state(offset_ms=250.0 if drifting else (i % 9) * 1.3 - 4 + run * 0.1)
        out.append(evaluate(h, dataclasses.replace(state, host=h.name), None, now=at))
    return out


def fill(db: Path) -> None:
    with HistoryStore(db) as store:
        for run in range(RUNS):
            for s, site in enumerate(SITES):
                if site == "west" and run == RUNS - 1:
                    continue  # west missed the last hour: its latest run is older
                at = START + run * HOUR_S + s * 60
                verdicts = site_run(site, run, at)
                if site == "east" and run == 2:  # one run judging two sites at once
                    verdicts += site_run("south", run, at, devices=3)
                store.save_run(verdicts, started_at=at, finished_at=at + 20)


def reports(db: Path) -> dict[str, str]:
    from orchestrator.cli.report_cmd import read_report

    target: StoreTarget = resolve_target(db)
    out = {}
    for name, site in (("all", None), ("site", "south")):
        data = read_report(
            target,
            since=START - 1,
            site=site,
            now=NOW,
            scope=Scope(inventory="inventory.yaml", database="history.sqlite"),
        )
        for fmt in ("json", "html"):
            # The version is the only thing allowed to differ between the two builds.
            text = render_json(data) if fmt == "json" else render(fmt, data)
            out[f"{name}.{fmt}"] = text.replace(__version__, "VERSION")
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    db = tmp_path_factory.mktemp("equiv") / "history.sqlite"
    fill(db)
    return reports(db)


@pytest.mark.parametrize("name", ["all.json", "all.html", "site.json", "site.html"])
def test_report_equals_previous_implementation(outputs: dict[str, str], name: str) -> None:
    expected = gzip.decompress((FIXTURES / f"{name}.gz").read_bytes()).decode()
    got = outputs[name]
    assert len(got) > 10_000
    if got != expected:  # show where, not 2 MB of text
        at = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
        pytest.fail(
            f"{name} differs at {at}: {got[at - 80 : at + 80]!r} != {expected[at - 80 : at + 80]!r}"
        )


if __name__ == "__main__":  # regenerate the fixtures (only with the reference build)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fill(Path(tmp) / "history.sqlite")
        for name, text in reports(Path(tmp) / "history.sqlite").items():
            (FIXTURES / f"{name}.gz").write_bytes(gzip.compress(text.encode(), 9, mtime=0))
            print(name, len(text), file=sys.stderr)


def test_series_of_a_few_hosts_equals_their_series(tmp_path: Path) -> None:
    from orchestrator.cli.report_cmd import read_report

    db = tmp_path / "history.sqlite"
    fill(db)

    def data() -> ReportInput:
        return read_report(resolve_target(db), since=START - 1, site=None, now=NOW)

    wanted = ["north-r07", "south-r00", "west-r54", "nowhere"]
    few = data().series_of(wanted)  # before any full series was made
    full = data()
    assert [len(full.series(h)) for h in wanted] == [RUNS, RUNS + 1, RUNS - 1, 0]
    assert few == {h: full.series(h) for h in wanted}
    assert full.series_of(wanted) == few  # and after


def test_across_sites_each_site_is_compared_with_its_own_previous_run(tmp_path: Path) -> None:
    # Every site's latest run is shown; "changed since the previous run" must compare each
    # device with the run before its own site's latest, not with the newest run overall
    # (which made every site but the newest one look unchanged).
    from orchestrator.cli.report_cmd import read_report

    db = tmp_path / "history.sqlite"
    fill(db)
    data = read_report(resolve_target(db), since=START - 1, site=None, now=NOW)
    for site in SITES:
        last = RUNS - 2 if site == "west" else RUNS - 1
        expected = {
            f"{site}-r{i:02d}"
            for i in range(DEVICES)
            if ((i + last) % 11 == 0) != ((i + last - 1) % 11 == 0) and i % 20 != 7
        }
        changed = {
            d.host for d in data.latest.devices if d.site == site and data.change(d.host).changed
        }
        assert changed == expected and expected, site
