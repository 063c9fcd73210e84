"""A small pipeline for the README tour: a CSV file dep, a config and a downstream chain.

load (reads data/raw.csv) -> transform (config: factor) -> summarize -> report (writes
reports/summary.json)
"""

import csv
import json
from pathlib import Path

from incr import StepConfig, pipeline, step
from pipelines.helpers import mean, scale


class TransformConfig(StepConfig):
    factor: float = 2.0


@step(deps=["data/raw.csv"])
def load() -> list:
    """Read the raw temperatures."""
    with open("data/raw.csv", newline="", encoding="utf-8") as fh:
        return [{"city": row["city"], "temp": float(row["temp"])} for row in csv.DictReader(fh)]


@step
def transform(config: TransformConfig, rows: list) -> list:
    return [{**row, "temp": scale(row["temp"], config.factor)} for row in rows]


@step
def summarize(rows: list) -> dict:
    temps = [row["temp"] for row in rows]
    return {"count": len(temps), "mean": mean(temps), "max": max(temps)}


@step(outs=["reports/summary.json"])
def report(summary: dict) -> None:
    Path("reports").mkdir(exist_ok=True)
    text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
    Path("reports/summary.json").write_text(text, encoding="utf-8")


@pipeline
def flow():
    rows = load()
    scaled = transform(rows, config=TransformConfig(factor=2.0))
    report(summarize(scaled))
