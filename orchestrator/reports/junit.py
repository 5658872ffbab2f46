"""JUnit XML of the latest run: a testsuite per site, a testcase per device, so CI
systems show each non-compliant device as a failure with its reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby

from orchestrator.reports.data import ReportInput, iso


def render_junit(data: ReportInput) -> str:
    run = data.latest
    devices = sorted(run.devices, key=lambda d: (d.site, d.host))
    root = ET.Element(
        "testsuites",
        name="orch ntp compliance",
        tests=str(len(devices)),
        failures=str(run.noncompliant),
        errors="0",
        timestamp=iso(run.started_at),
    )
    duration = f"{max(0.0, run.finished_at - run.started_at):.3f}"
    for site, group in groupby(devices, key=lambda d: d.site):
        members = list(group)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=site,
            tests=str(len(members)),
            failures=str(sum(1 for d in members if not d.complies)),
            errors="0",
            skipped="0",
            timestamp=iso(run.started_at),
            time=duration,
        )
        for d in members:
            case = ET.SubElement(
                suite, "testcase", classname=f"ntp.{site}.{d.platform}", name=d.host, time="0"
            )
            if not d.complies:
                failure = ET.SubElement(case, "failure", message=d.reason, type=d.verdict.value)
                failure.text = "\n".join(
                    f"{'ok  ' if c.passed else 'FAIL' if c.applicable else 'n/a '} {c.name}: "
                    f"expected {c.expected}; "
                    f"actual {c.actual}"
                    for c in d.checks
                )
            else:
                ET.SubElement(case, "system-out").text = d.reason
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
