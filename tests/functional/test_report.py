"""incr report: one self-contained HTML file, opened in a real headless Chromium (Debian's
``chromium``): a screenshot shows the states' colours, the page's text the steps' facts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from incr import render

from .conftest import Project
from .pngpixels import hex_rgb, pixels
from .seeproject import STATES, make_shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (.ci/run installs it)")
    project = make_shop(tmp_path_factory.mktemp("report") / "shop")
    result = project.incr("report", "-o", "out/report.html")
    assert result.returncode != 0  # the folder does not exist: one line, no traceback
    (project.root / "out").mkdir()
    result = project.incr("report", "-o", "out/report.html")
    assert result.returncode == 0, result.output
    assert result.stdout.strip() == "wrote out/report.html: 5 steps, 4 not clean"
    return project


def chromium(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once (its own profile folder, no sandbox: tests may run as root)."""
    program = shutil.which("chromium") or shutil.which("chromium-browser")
    if program is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    command = [
        program,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={root / 'chromium-profile'}",
        *args,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium cannot start here: {exc}")
    if done.returncode != 0 and not done.stdout:
        pytest.skip(f"chromium cannot start here: {done.stderr.strip()[-300:]}")
    return done


def test_the_report_is_one_self_contained_file(shop: Project) -> None:
    page = shop.read("out/report.html")

    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "url(" not in page
    assert page.count("<svg") == 1


def test_chromium_shows_each_state_and_the_facts_of_each_step(shop: Project) -> None:
    url = (shop.root / "out" / "report.html").as_uri()
    shot = shop.root / "out" / "report.png"

    dom = chromium(shop.root, "--dump-dom", url).stdout
    chromium(shop.root, f"--screenshot={shot}", "--window-size=1280,1100", url)

    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    for step in STATES:
        row = re.search(rf'<tr id="shop\.{step}">(.*?)</tr>', dom, re.S)
        assert row is not None, step
        assert render.LEGEND[STATES[step]] in row.group(1)
    train = re.search(r'<tr id="shop\.train">(.*?)</tr>', dom, re.S)
    assert train is not None
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", train.group(1)))
    assert "config changed (lr: 0.1 -&gt; 0.2)" in train.group(1)
    assert "reports/train.json (file, " in cells and "lr = 0.2" in cells  # the config now
    assert "reports/train.json:loss = 0.96" in cells
    assert re.search(r"\d+\.\d{3}s", cells)  # its last duration
    assert "evaluate" in text and "output:accuracy = 0.52" in text
    assert "the flag says fail" not in text  # a report of states, not of tracebacks
    width, height, rgb = pixels(shot)
    seen = set(rgb)
    for state in STATES.values():
        assert hex_rgb(render.COLOURS[state]) in seen, state
    assert (width, height) == (1280, 1100)
