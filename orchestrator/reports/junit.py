"""JUnit XML of the latest run: a testsuite per site, a testcase per device, so CI
systems show each non-compliant device as a failure with its reason.

Valid against the common JUnit schema (Jenkins xunit's junit-10.xsd): no `timestamp`
on `<testsuites>`; an unreachable device is an `<error>` (the test could not run),
a non-compliant one a `<failure>`. Each check the device's platform cannot measure
is a testcase of its own (`<host> <check>`) that is `<skipped>` with the reason, so
CI shows it as neither passed nor failed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby

from orchestrator.models import Verdict
from orchestrator.reports.data import ReportInput, iso, not_measured
from orchestrator.store.records import StoredDevice

_MARK = {"pass": "ok  ", "fail": "FAIL", "not measured": "n/m "}


def _checks_text(d: StoredDevice) -> str:
    return "\n".join(
        f"{_MARK[c.status]} {c.name}: expected {c.expected}; actual {c.actual}" for c in d.checks
    )


def _outcome(d: StoredDevice) -> str:
    if d.verdict is Verdict.UNREACHABLE:
        return "error"
    return "pass" if d.complies else "failure"


def render_junit(data: ReportInput) -> str:
    run = data.latest
    devices = sorted(run.devices, key=lambda d: (d.site, d.host))
    outcomes = {d.host: _outcome(d) for d in devices}

    def tally(members: list[StoredDevice], outcome: str) -> str:
        return str(sum(1 for d in members if outcomes[d.host] == outcome))

    def cases(members: list[StoredDevice]) -> str:
        return str(len(members) + sum(len(not_measured(d)) for d in members))

    duration = f"{max(0.0, run.finished_at - run.started_at):.3f}"
    root = ET.Element(
        "testsuites",
        name="orch ntp compliance",
        tests=cases(devices),
        failures=tally(devices, "failure"),
        errors=tally(devices, "error"),
        time=duration,
    )
    for site, group in groupby(devices, key=lambda d: d.site):
        members = list(group)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=site,
            tests=cases(members),
            failures=tally(members, "failure"),
            errors=tally(members, "error"),
            skipped=str(sum(len(not_measured(d)) for d in members)),
            timestamp=iso(run.started_at),
            time=duration,
        )
        for d in members:
            classname = f"ntp.{site}.{d.platform}"
            case = ET.SubElement(suite, "testcase", classname=classname, name=d.host, time="0")
            outcome = outcomes[d.host]
            if outcome == "pass":
                ET.SubElement(case, "system-out").text = d.reason
            else:
                element = ET.SubElement(case, outcome, message=d.reason, type=d.verdict.value)
                element.text = _checks_text(d)
            for check in not_measured(d):
                skipped = ET.SubElement(
                    suite, "testcase", classname=classname, name=f"{d.host} {check.name}", time="0"
                )
                ET.SubElement(skipped, "skipped", message=check.actual, type="not-measured")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
