"""``incr status --check`` as a CI gate: it fails when pipeline.lock is out of date, never
because this machine lacks results (a fresh clone, a step with caching off)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import FLOW_FILES, MakeProject, Project, run_command

REPO = Path(__file__).resolve().parents[2]

#: load (a file dep) -> train (caching off) -> evaluate; report writes an outs file that
#: publish reads as a dep, and peek reads without declaring it.
GATED = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/raw.csv"])
    def load() -> list:
        mark("load")
        with open("data/raw.csv", encoding="utf-8") as fh:
            return [int(line) for line in fh if line.strip()]


    @step(enable_cache=False)
    def train(values: list) -> int:
        mark("train")
        return sum(values)


    @step
    def evaluate(total: int) -> dict:
        mark("evaluate")
        return {"total": total}


    @step(outs=["reports/total.json"])
    def report(result: dict) -> None:
        mark("report")
        os.makedirs("reports", exist_ok=True)
        with open("reports/total.json", "w", encoding="utf-8") as fh:
            json.dump(result, fh)


    @step(deps=["reports/total.json"])
    def publish() -> str:
        mark("publish")
        with open("reports/total.json", encoding="utf-8") as fh:
            return fh.read()


    @step
    def peek() -> int:  # reads report's file without declaring it: a learned read
        mark("peek")
        with open("reports/total.json", encoding="utf-8") as fh:
            return len(fh.read())


    @pipeline
    def gated():
        report(evaluate(train(load())))
        publish()
        peek()
    """
ORDER = ["load", "train", "evaluate", "report", "publish", "peek"]


def git(root: Path, *args: str) -> str:
    result = run_command(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], root)
    assert result.returncode == 0, result.output
    return result.stdout


def committed(make_project: MakeProject) -> Project:
    """A project brought up to date and committed to git with its lockfile; the cache, the
    outs and ran.txt are not committed."""
    project = make_project(
        {
            "pipelines/gated.py": GATED,
            "data/raw.csv": "1\n2\n3\n",
            ".gitignore": "ran.txt\nreports/\n",
        }
    )
    project.repro()
    assert project.take_ran() == ORDER
    assert "reports/total.json" in project.lock()["gated.peek"].reads
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "pipelines and their lockfile")
    assert "pipeline.lock" in git(project.root, "ls-files")
    assert ".pipecache" not in git(project.root, "ls-files")
    return project


def clone(project: Project, where: Path) -> Project:
    git(where.parent, "clone", "-q", str(project.root), where.name)
    assert not (where / ".pipecache").exists()
    return Project(where)


def check(project: Project) -> tuple[int, str]:
    """``incr status --check``: its exit code and its last line."""
    result = project.incr("status", "--check")
    assert result.returncode in (0, 1), result.output
    assert "Traceback" not in result.output
    return result.returncode, result.stdout.splitlines()[-1]


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@needs_git
def test_a_fresh_clone_passes_and_an_edit_fails(make_project: MakeProject, tmp_path: Path) -> None:
    fresh = clone(committed(make_project), tmp_path / "clone")

    # Every step lacks its results here, and train has caching off: none of it fails the gate.
    plain = fresh.incr("status")
    assert plain.returncode == 0
    assert "output missing from cache" in plain.stdout
    assert "cache disabled" in plain.stdout
    code, last = check(fresh)
    assert code == 0, last
    assert last.startswith(
        "check passed: pipeline.lock matches the code, configs, data and environment; "
        "6 steps only lack results on this machine"
    )

    fresh.edit("pipelines/gated.py", 'return {"total": total}', 'return {"sum": total}')
    code, last = check(fresh)
    assert code == 1
    assert last == (
        "check failed: pipeline.lock is out of date: gated.evaluate (code changed "
        "(evaluate in pipelines/gated.py)); 2 steps after them may change too; "
        "run `incr repro` and commit pipeline.lock"
    )
    assert fresh.take_ran() == []


@needs_git
def test_what_a_passing_gate_promises(make_project: MakeProject, tmp_path: Path) -> None:
    # The gate passes in a fresh clone; bringing that clone up to date then leaves the
    # committed lockfile as it is, byte for byte: it was up to date.
    project = committed(make_project)
    fresh = clone(project, tmp_path / "clone")
    assert check(fresh)[0] == 0

    fresh.repro()

    assert fresh.take_ran() == ORDER
    assert fresh.lock_bytes() == project.lock_bytes()
    assert git(fresh.root, "status", "--porcelain") == ""


@needs_git
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p.write({"data/raw.csv": "1\n2\n4\n"}), "dep changed (data/raw.csv)"),
        (
            lambda p: p.edit("pipelines/gated.py", "return sum(values)", "return max(values)"),
            "code changed (train in pipelines/gated.py)",
        ),
        (
            lambda p: p.edit("pipelines/gated.py", "return fh.read()", "return fh.read()[:1]"),
            "code changed (publish in pipelines/gated.py)",
        ),
    ],
    ids=["data", "code-of-a-step-with-caching-off", "code-after-an-outs-file"],
)
def test_changes_that_outdate_the_lock_fail_it(
    make_project: MakeProject, tmp_path: Path, change, reason: str
) -> None:
    fresh = clone(committed(make_project), tmp_path / "clone")

    change(fresh)

    code, last = check(fresh)
    assert code == 1, last
    assert reason in last
    as_json = fresh.incr("status", "--check", "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["stale"] >= 1
    texts = [r["text"] for s in data["steps"] for r in s["reasons"] if r["stale"]]
    assert reason in texts
    assert as_json.stderr.startswith("check failed: ")


def test_an_edited_outs_file_fails_it_a_missing_one_does_not(make_project: MakeProject) -> None:
    project = make_project({"pipelines/gated.py": GATED, "data/raw.csv": "1\n2\n3\n"})
    project.repro()
    project.take_ran()
    out = project.root / "reports/total.json"

    out.unlink()
    code, last = check(project)
    assert code == 0, last
    assert "output missing" in last

    out.write_text('{"total": 7}', encoding="utf-8")
    code, last = check(project)
    assert code == 1
    assert "gated.report (output modified (reports/total.json))" in last
    # the lockfile holds: the steps after it are judged on what it records for that file
    assert last.startswith("check failed: files on disk differ from the outputs pipeline.lock")
    assert "commit" not in last and last.endswith("run `incr repro` to put them back")


def test_a_step_waiting_on_a_step_with_caching_off_is_judged_on_its_own_facts(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/gated.py": GATED, "data/raw.csv": "1\n2\n3\n"})
    project.repro()
    project.take_ran()
    assert check(project)[0] == 0

    # evaluate waits on train (caching off) but its inputs are known from the lockfile: an
    # edit of evaluate outdates the lock.
    project.edit("pipelines/gated.py", 'return {"total": total}', 'return {"sum": total}')
    code, last = check(project)
    assert code == 1
    assert "gated.evaluate (code changed (evaluate in pipelines/gated.py))" in last
    project.edit("pipelines/gated.py", 'return {"sum": total}', 'return {"total": total}')

    # Only train reruns, with another result: the lockfile now records train's new output
    # and evaluate's old input. train is dirty only because its caching is off, evaluate
    # waits on it: judged on the lockfile alone, evaluate's input changed.
    project.write({"data/raw.csv": "1\n2\n4\n"})
    project.repro("load", "train")
    assert project.take_ran() == ["load", "train"]
    plain = {s["step"]: s for s in project.status()["steps"]}
    assert [r["text"] for r in plain["evaluate"]["reasons"]] == ["after train"]

    code, last = check(project)
    assert code == 1
    assert "gated.evaluate (input changed (from train))" in last


def test_status_json_says_which_reasons_outdate_the_lock(make_project: MakeProject) -> None:
    project = make_project(FLOW_FILES)
    project.repro()
    shutil.rmtree(project.root / ".pipecache")
    project.edit("pipelines/flow.py", "SHIFT = 10", "SHIFT = 11")

    data = project.status()

    assert data["stale"] == 2  # shift, and total after it
    steps = {s["step"]: s for s in data["steps"]}
    assert not steps["load"]["stale"]
    assert [(r["kind"], r["stale"]) for r in steps["load"]["reasons"]] == [
        ("output missing from cache", False)
    ]
    assert steps["shift"]["stale"]
    assert ("code changed", True) in [(r["kind"], r["stale"]) for r in steps["shift"]["reasons"]]
    assert [(r["kind"], r["stale"]) for r in steps["total"]["reasons"] if r["kind"] == "after"] == [
        ("after", True)
    ]


@pytest.mark.timeout(240)
def test_the_digits_example_passes_in_a_copy_without_its_cache(tmp_path: Path) -> None:
    # The seed's own example has a step declared @step(enable_cache=False), and its main
    # block's last run passes enable_cache=False: both steps execute in every run.
    if not (REPO / "pipelines" / "digits.py").is_file():
        pytest.skip("the repository's examples are not next to the tests")
    made = Project(tmp_path / "made")
    for folder in ("pipelines", "data"):
        shutil.copytree(REPO / folder, made.root / folder, ignore=shutil.ignore_patterns("__py*"))
    shutil.copy2(REPO / "pyproject.toml", made.root / "pyproject.toml")
    made.repro()
    copy = Project(tmp_path / "copy")
    shutil.copytree(made.root, copy.root, ignore=shutil.ignore_patterns(".pipecache"))

    code, last = check(copy)

    assert code == 0, last
    assert "cache disabled" in last
    assert check(made) == (
        0,
        "check passed: pipeline.lock matches the code, configs, data and environment; "
        "2 steps execute in every `incr repro` (cache disabled), which `incr repro` computes",
    )
