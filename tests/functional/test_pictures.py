"""incr dag --status: steps coloured by state, reasons as SVG tooltips, files as nodes;
--format svg/png drawn by Graphviz's dot program."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from incr import render

from .conftest import Project
from .seeproject import STATES, make_shop

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_shop(tmp_path_factory.mktemp("pictures") / "shop")


def nodes(svg: bytes) -> dict[str, ET.Element]:
    """SVG node groups by their Graphviz name (``shop.train``)."""
    root = ET.fromstring(svg)
    found = {}
    for group in root.iter(f"{SVG}g"):
        if "node" in group.get("class", "").split():
            title = group.find(f"{SVG}title")
            assert title is not None and title.text
            found[title.text] = group
    return found


@needs_dot
def test_svg_colours_each_step_by_state_with_reasons_as_tooltips(shop: Project) -> None:
    result = shop.incr("dag", "--status", "--format", "svg", "-o", "dag.svg")
    assert result.returncode == 0, result.output

    drawn = nodes((shop.root / "dag.svg").read_bytes())

    for step, state in STATES.items():
        group = drawn[f"shop.{step}"]
        assert state in group.get("class", "").split()
        fills = {shape.get("fill") for shape in group.iter() if shape.get("fill")}
        assert render.COLOURS[state] in fills, (step, fills)
    tips = {
        step: next(a.get(f"{XLINK}title") for a in drawn[f"shop.{step}"].iter(f"{SVG}a"))
        for step in STATES
    }
    assert tips["train"] == "dirty: config changed (lr: 0.1 -> 0.2)"
    assert tips["evaluate"] == "waiting on upstream: after train"
    assert tips["check"].startswith("failed in the last run: ")
    assert "dep changed (data/flag.txt)" in tips["check"]
    assert tips["ping"] == "cache disabled"
    assert tips["load"] == "clean"
    assert {"shop.file:data/raw.csv", "shop.file:reports/train.json"} <= set(drawn)
    assert {f"legend.{state}" for state in render.STATES} <= set(drawn)
    assert shop.take_ran() == []


@needs_dot
def test_png_is_a_picture_and_plain_svg_needs_no_status(shop: Project) -> None:
    png = shop.incr("dag", "--format", "png", "-o", "dag.png")
    plain = shop.incr("dag", "--format", "svg")

    assert png.returncode == 0, png.output
    assert (shop.root / "dag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = nodes(plain.stdout.encode())
    assert set(drawn) == {f"shop.{step}" for step in STATES}
    assert all(g.get("class") == "node" for g in drawn.values())


def test_without_dot_svg_says_how_to_install_it_and_dot_text_still_works(
    shop: Project,
) -> None:
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}  # python, and no dot

    def incr(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "incr.cli", *args]
        return subprocess.run(command, cwd=shop.root, env=env, capture_output=True, text=True)

    svg = incr("dag", "--format", "svg")
    dot = incr("dag", "--status", "--format", "dot")
    report = incr("report", "-o", "no-picture.html")

    assert svg.returncode == 2 and "Traceback" not in svg.stderr
    assert svg.stderr.splitlines()[0] == f"error: {render.INSTALL_DOT}"
    assert dot.returncode == 0 and dot.stdout.startswith("digraph incr {")
    assert report.returncode == 0, report.stderr
    page = (shop.root / "no-picture.html").read_text()
    assert "<svg" not in page and "No picture: Graphviz" in page and "shop.train" in page


def test_mermaid_status_uses_a_class_per_state(shop: Project) -> None:
    lines = shop.incr("dag", "--status", "--format", "mermaid").stdout.splitlines()
    text = shop.incr("dag", "--status").stdout.splitlines()

    assert [line.split()[0] for line in text[1:]] == list(STATES)
    assert [line.split()[-1] for line in text[1:]] == [f"[{s}]" for s in STATES.values()]

    assert lines[:6] == [
        "flowchart LR",
        '  s0["load"]',
        '  s1["train"]',
        '  s2["evaluate"]',
        '  s3["check"]',
        '  s4["ping"]',
    ]
    assert "  class s0 clean" in lines
    assert "  class s1 dirty" in lines
    assert "  class s2 waiting" in lines
    assert "  class s3 failed" in lines
    assert "  class s4 disabled" in lines
    assert (
        f"  classDef failed fill:{render.COLOURS['failed']},stroke:#555555,color:#000000" in lines
    )
    assert [line for line in lines if "-->" in line] == [
        "  f1 --> s0",  # data/raw.csv, read by load
        "  s0 --> s1",
        "  s0 --> s3",
        "  s0 --> s4",
        "  s1 --> s2",
        "  s1 --> f2",  # reports/train.json, written by train
        "  f0 --> s3",  # data/flag.txt, read by check
    ]
