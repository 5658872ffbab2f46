"""The HTML report rendered by headless Chromium: the page and its charts really draw."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from orchestrator.reports import render
from reports.report_fixtures import make_history

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHART_BLUE = np.array([0x2C, 0x7B, 0xE5]) / 255.0  # the offset line colour in charts.py
BADGE_GREEN = np.array([0x2E, 0x7D, 0x32]) / 255.0  # .v-compliant in the template
HISTORY_AMBER = np.array([0xE0, 0xA0, 0x00]) / 255.0  # .hist i.v-drifting in the template


def _near(pixels: np.ndarray, colour: np.ndarray, tol: float = 0.12) -> int:
    return int(np.sum(np.all(np.abs(pixels[..., :3] - colour) < tol, axis=-1)))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install.sh)")
def test_report_renders_in_headless_chromium_with_charts(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    report = tmp_path / "report.html"
    report.write_text(render("html", make_history(tmp_path / "history.sqlite")))
    shot = tmp_path / "shot.png"
    # No network: the page must draw from the file alone (nothing to fetch anyway).
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    pixels = mpimg.imread(str(shot))
    assert pixels.shape[0] == 3000 and pixels.shape[1] == 1200
    # Not blank: a rendered report has text, tables, badges and charts.
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200
    assert _near(pixels, BADGE_GREEN) > 200  # the verdict badges drew
    assert _near(pixels, CHART_BLUE) > 50  # and the offset line of a chart did too
    # The device table's verdict history: a row of coloured cells per device (amber for
    # drifting runs appears nowhere else on the page), and the scope header's box.
    assert _near(pixels, HISTORY_AMBER) > 100
    if os.environ.get("ORCH_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["ORCH_KEEP_SCREENSHOT"])
