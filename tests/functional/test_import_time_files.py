"""A file a module reads as it is imported, which a step of the same run writes
(``LABELS = json.load(open("data/labels.json"))`` at the top of a module, the file an output of
a step ``prepare``): a step using what the import made of it must not run with the old
contents (incr/passes.py). It is held, and runs once the modules are imported again, in the
same ``incr repro``; so is wiring read from a file a step writes. What each run leaves is what
a run from scratch of the same files gives, and one ``repro`` is enough.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

LABELS = """\
    import json
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    LABELS = json.load(open("data/labels.json"))


    @step(outs=["data/labels.json"])
    def prepare() -> int:
        mark("prepare")
        names = sorted(set(Path("data/raw.txt").read_text().split()))
        Path("data/labels.json").write_text(json.dumps({n: i for i, n in enumerate(names)}))
        return len(names)


    @step
    def encode(n: int) -> dict:
        mark("encode")
        return dict(LABELS)


    @step(outs=["report.txt"])
    def report(codes: dict) -> str:
        mark("report")
        text = ",".join(f"{k}={v}" for k, v in sorted(codes.items()))
        Path("report.txt").write_text(text)
        return text


    @pipeline
    def flow():
        report(encode(prepare()))
    """


@pytest.fixture
def labels(make_project: MakeProject) -> Project:
    project = make_project(
        {
            "pipelines/flow.py": LABELS,
            "data/raw.txt": "cat dog\n",
            "data/labels.json": json.dumps({"cat": 0, "dog": 1}),
        }
    )
    project.repro()
    assert project.take_ran() == ["prepare", "encode", "report"]
    assert project.read("report.txt") == "cat=0,dog=1"
    return project


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_step_using_a_file_read_at_import_runs_with_what_a_step_wrote(
    labels: Project, tmp_path, jobs: str
) -> None:
    """Before, ``encode`` ran with the labels the import read before ``prepare`` rewrote
    the file (``cat=0,dog=1`` where a run from scratch gives three labels), and a second
    ``repro`` was needed."""
    (labels.root / "data/raw.txt").write_text("cat dog emu\n")
    result = labels.repro("--jobs", jobs)
    assert labels.take_ran() == ["prepare", "encode", "report"]  # each once
    assert labels.read("report.txt") == "cat=0,dog=1,emu=2"
    assert (
        "importing the pipeline modules again: this run changed data/labels.json, which they "
        "read as they were imported or traced; held until then: flow.encode"
    ) in result.output
    assert labels.dirty() == {}
    labels.repro()
    assert labels.take_ran() == []
    assert_same_as_scratch(labels, fresh_copy(labels, tmp_path / "fresh"), ("report.txt",))


def test_a_revert_puts_back_every_result_in_one_run(labels: Project) -> None:
    (labels.root / "data/raw.txt").write_text("cat dog emu\n")
    labels.repro()
    labels.take_ran()
    (labels.root / "data/raw.txt").write_text("cat dog\n")
    labels.repro()
    assert labels.take_ran() == []  # all from the cache
    assert labels.read("report.txt") == "cat=0,dog=1"
    assert labels.read("data/labels.json") == json.dumps({"cat": 0, "dog": 1})
    assert labels.dirty() == {}


C_READER = """\
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from incr import pipeline, step
    from pipelines.mark import mark

    TABLE = pq.read_table("data/labels.parquet")
    NAMES = TABLE.column("name").to_pylist()


    @step(outs=["data/labels.parquet"])
    def prepare() -> int:
        mark("prepare")
        names = sorted(set(Path("data/raw.txt").read_text().split()))
        pq.write_table(pa.table({"name": names}), "data/labels.parquet")
        return len(names)


    @step
    def encode(n: int) -> list:
        mark("encode")
        return list(NAMES)


    @pipeline
    def flow():
        encode(prepare())
    """


def test_a_file_a_reader_in_c_reads_at_import(make_project: MakeProject, tmp_path) -> None:
    """Before, the lockfile recorded the new file for ``encode``, which kept the old names:
    every later ``incr status`` said clean (stale for good)."""
    pa = pytest.importorskip("pyarrow")
    project = make_project({"pipelines/flow.py": C_READER, "data/raw.txt": "cat dog\n"})
    import pyarrow.parquet as pq

    (project.root / "data").mkdir(exist_ok=True)
    pq.write_table(pa.table({"name": ["cat", "dog"]}), project.root / "data/labels.parquet")
    project.repro()
    assert project.take_ran() == ["prepare", "encode"]
    (project.root / "data/raw.txt").write_text("ant cat dog\n")
    project.repro()
    assert project.take_ran() == ["prepare", "encode"]
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


SELF = """\
    import json
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    STATE = json.loads(Path("state.json").read_text())


    @step
    def bump() -> int:
        mark("bump")
        count = STATE["count"] + int(Path("data/step.txt").read_text())
        Path("state.json").write_text(json.dumps({"count": count}))
        return count


    @pipeline
    def counter():
        bump()
    """


def test_a_step_rewriting_the_file_its_module_reads_runs_once(make_project: MakeProject) -> None:
    """A step that reads, through its module's import, the very file it writes changes its
    own input on every run: the run does not import the modules again for it (it would run
    again and again)."""
    project = make_project(
        {"pipelines/counter.py": SELF, "state.json": '{"count": 0}', "data/step.txt": "1"}
    )
    result = project.repro()
    assert project.take_ran() == ["bump"]
    assert "importing the pipeline modules again" not in result.output
    assert json.loads(project.read("state.json")) == {"count": 1}


WIRED = """\
    import json
    from pathlib import Path

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class RegionConfig(StepConfig):
        name: str


    @step(outs=["data/manifest.json"])
    def plan() -> int:
        mark("plan")
        names = Path("data/regions.txt").read_text().split()
        Path("data/manifest.json").write_text(json.dumps(names))
        return len(names)


    @step
    def region(config: RegionConfig, n: int) -> str:
        mark(f"region_{config.name}")
        return config.name.upper()


    @pipeline
    def regions():
        n = plan()
        for name in json.loads(Path("data/manifest.json").read_text()):
            region(n, config=RegionConfig(name=name), name=f"region_{name}")
    """


def test_wiring_read_from_a_file_a_step_writes(make_project: MakeProject, tmp_path) -> None:
    """Before, a region added to ``regions.txt`` got its step only on the second ``repro``."""
    project = make_project(
        {
            "pipelines/regions.py": WIRED,
            "data/regions.txt": "north south\n",
            "data/manifest.json": json.dumps(["north", "south"]),
        }
    )
    project.repro()
    assert sorted(project.take_ran()) == ["plan", "region_north", "region_south"]
    (project.root / "data/regions.txt").write_text("north south east\n")
    project.repro()
    ran = project.take_ran()
    assert "plan" in ran and "region_east" in ran
    assert project.dirty() == {}
    assert "regions.region_east" in project.lock()
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


SCRIPT = (
    LABELS
    + """\


    if __name__ == "__main__":
        flow().run()
    """
)


def test_a_script_fails_the_step_rather_than_run_it_with_the_old_contents(
    make_project: MakeProject,
) -> None:
    """A script's ``.run()`` cannot import its own module again: the held step fails,
    saying why and what to do, and the steps below it are skipped."""
    project = make_project(
        {
            "pipelines/flow.py": SCRIPT,
            "data/raw.txt": "cat dog\n",
            "data/labels.json": json.dumps({"cat": 0, "dog": 1}),
        }
    )
    assert project.python("pipelines/flow.py").returncode == 0
    assert project.take_ran() == ["prepare", "encode", "report"]
    (project.root / "data/raw.txt").write_text("cat dog emu\n")
    result = project.python("pipelines/flow.py")
    assert result.returncode != 0
    assert project.take_ran() == ["prepare"]
    assert "data/labels.json changed after the modules its code uses read it" in result.output
    assert project.python("pipelines/flow.py").returncode == 0  # a new process imports it anew
    assert project.take_ran() == ["encode", "report"]
    assert project.read("report.txt") == "cat=0,dog=1,emu=2"


LIBRARY = (
    LABELS.replace(
        "    from pipelines.mark import mark\n",
        "    from pipelines.mark import mark\n"
        "    from sklearn.preprocessing import scale  # reads SKLEARN_* as it is imported\n",
    )
    .replace('        mark("encode")\n', '        mark("encode")\n        assert callable(scale)\n')
    .replace(
        '        mark("report")\n',
        '        mark("report")\n        codes = {k: v * SCALE for k, v in codes.items()}\n',
    )
    + """\


    SCALE = int(open("scale.txt").read())
    """
)


def test_the_next_pass_keeps_what_a_library_read_as_it_was_imported(
    make_project: MakeProject, monkeypatch
) -> None:
    """scikit-learn reads ``SKLEARN_*`` variables as the module importing it is imported;
    the next pass imports the module again, not scikit-learn. Before, the steps it ran were
    recorded without those variables, and the next ``repro`` ran them again (``env changed
    (SKLEARN_ASSUME_FINITE, ...)``) after an edit that concerned ``report`` alone."""
    pytest.importorskip("sklearn")
    monkeypatch.setenv("INCR_TESTS_EXEC", "1")  # a new process: no scikit-learn loaded yet
    project = make_project(
        {
            "pipelines/flow.py": LIBRARY,
            "data/raw.txt": "cat dog\n",
            "data/labels.json": json.dumps({"cat": 0, "dog": 1}),
            "scale.txt": "1",
        }
    )
    project.repro()
    project.take_ran()
    (project.root / "data/raw.txt").write_text("cat dog emu\n")
    project.repro()
    assert project.take_ran() == ["prepare", "encode", "report"]
    (project.root / "scale.txt").write_text("10")
    assert project.dirty() == {
        "report": [("read changed", "scale.txt, read when pipelines/flow.py is imported")]
    }
    project.repro()
    assert project.take_ran() == ["report"]
    assert project.read("report.txt") == "cat=0,dog=10,emu=20"


READER = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    CFG = json.load(open("k.json"))
    M = json.load(open("data/m.json")) if os.path.exists("data/m.json") else {"v": 0}


    @step
    def use() -> int:
        mark("use")
        return CFG["k"] * 100 + M["v"]


    @pipeline
    def a_use():
        use()
    """

MAKER = """\
    import json

    from incr import pipeline, step
    from pipelines.mark import mark

    N = json.load(open("n.json"))["n"]


    @step(outs=["data/m.json"])
    def make() -> None:
        mark("make")
        json.dump({"v": N}, open("data/m.json", "w"))


    @pipeline
    def b_make():
        make()
    """


def test_a_step_that_ran_before_a_file_was_put_back_runs_again(
    make_project: MakeProject, tmp_path
) -> None:
    """``use`` runs first, with the file its module read; then ``make`` is put back from the
    cache, which rewrites that file. Before, the modules were not imported again (``use``
    had read the file through its module: taken for a step rewriting its own input), ``use``
    kept 202 where a run from scratch gives 201, and ``incr status`` said dirty."""
    project = make_project(
        {"pipelines/a_use.py": READER, "pipelines/b_make.py": MAKER, "data/notes.txt": ""}
    )
    for k, n in ((1, 1), (1, 2), (2, 1)):
        (project.root / "k.json").write_text(json.dumps({"k": k}))
        (project.root / "n.json").write_text(json.dumps({"n": n}))
        project.repro()
        assert project.dirty() == {}, (k, n)
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_a_scripts_second_run_compares_with_what_the_import_read(
    make_project: MakeProject,
) -> None:
    """A script importing both modules, then running ``maker``'s pipeline and ``reader``'s:
    ``use`` must not run with the file its module read before ``make`` rewrote it. Before,
    the second ``.run()`` valued the file as it found it then, ran ``use`` with the old
    contents and recorded the new file: the stale result stayed (status said clean)."""
    project = make_project(
        {
            "pipelines/a_use.py": READER,
            "pipelines/b_make.py": MAKER,
            "data/notes.txt": "",
            "k.json": '{"k": 1}',
            "n.json": '{"n": 1}',
            "run.py": """\
                from pipelines.a_use import a_use
                from pipelines.b_make import b_make

                if __name__ == "__main__":
                    b_make().run()
                    a_use().run()
                """,
        }
    )
    assert project.python("run.py").returncode == 0
    assert project.take_ran() == ["make", "use"]  # the file was missing: use gave 100
    (project.root / "n.json").write_text('{"n": 2}')
    result = project.python("run.py")
    assert result.returncode != 0
    assert "data/m.json changed after the modules its code uses read it" in result.output
    assert project.take_ran() == ["make"]
    assert project.python("run.py").returncode == 0
    assert project.take_ran() == ["use"]
    assert project.dirty() == {}


SHARDS = """\
    import json
    import shutil
    from pathlib import Path

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    MANIFEST = json.loads(Path("data/manifest.json").read_text())


    class Split(StepConfig):
        n: int = 3


    class Shard(StepConfig):
        name: str


    @step(outs=["data/manifest.json", "data/shards"])
    def split(config: Split) -> None:
        mark("split")
        shutil.rmtree("data/shards", ignore_errors=True)  # the shards of the last run go
        Path("data/shards").mkdir()
        names = [f"s{i}" for i in range(config.n)]
        for i, name in enumerate(names):
            Path(f"data/shards/{name}.txt").write_text(str(10 * config.n + i))
        Path("data/manifest.json").write_text(json.dumps(names))


    @step
    def stats(config: Shard) -> int:
        mark(f"stats_{config.name}")
        return int(Path(f"data/shards/{config.name}.txt").read_text())


    @step
    def combine(parts: list) -> int:
        mark("combine")
        return sum(parts)


    @pipeline
    def shards():
        split(config=Split(n=3))
        combine([stats(config=Shard(name=s), name=f"stats_{s}") for s in MANIFEST])
    """


@pytest.mark.parametrize(
    ("status_first", "jobs"),
    [(False, "1"), (True, "1"), (False, "2")],
    ids=["repro", "status-then-repro", "jobs"],
)
def test_steps_wired_from_a_manifest_a_step_rewrites_wait_for_the_next_pass(
    make_project: MakeProject, tmp_path, status_first: bool, jobs: str
) -> None:
    """``MANIFEST`` read at the top of the module, a step per entry. Before, after the
    manifest's writer ran, the old steps ran (one of them on a shard gone), and with an
    ``incr status`` before the ``repro`` (the graphs then come from the graph cache) the
    run stopped: ``step shards.stats_s0 became dirty while incr was checking it``."""
    project = make_project(
        {"pipelines/shards.py": SHARDS, "data/manifest.json": json.dumps(["s0", "s1", "s2"])}
    )
    project.repro()
    project.take_ran()
    project.edit("pipelines/shards.py", "Split(n=3)", "Split(n=2)")
    if status_first:
        project.status()
    project.repro("--jobs", jobs)  # with --jobs, no step starts beside split (Loop.barrier)
    ran = project.take_ran()
    assert ran[0] == "split" and "stats_s2" not in ran
    assert "shards.stats_s2" not in project.lock()
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


FIRST_IN_A_STEP = """\
    import os

    import joblib

    from incr import pipeline, step
    from pipelines.mark import mark

    MODEL = joblib.load("models/m.joblib") if os.path.exists("models/m.joblib") else None


    @step(outs=["models/m.joblib"])
    def make() -> int:
        mark("make")
        from sklearn.neighbors import KNeighborsRegressor  # scikit-learn, first imported here

        os.makedirs("models", exist_ok=True)
        joblib.dump(KNeighborsRegressor(n_neighbors=1).fit([[0], [1]], [1, 2]), "models/m.joblib")
        return 1


    @step
    def use(after: int) -> list:
        mark("use")
        return [] if MODEL is None else [float(p) for p in MODEL.predict([[0], [1]])]


    @pipeline
    def models():
        use(make())
    """


def test_what_a_library_reads_as_it_is_imported_is_no_fact_of_a_module(
    make_project: MakeProject, monkeypatch
) -> None:
    """scikit-learn, first imported by a step, is imported again by the module's
    ``joblib.load`` in the next pass: its reads of ``SKLEARN_*`` variables as it is imported
    happen once per process, by whichever imports it first. Before, they were facts of the
    module in a new process and not in the next pass: ``incr status`` said ``use`` dirty
    (``env changed (SCIPY_ARRAY_API, SKLEARN_ASSUME_FINITE, ...)``) right after the repro."""
    pytest.importorskip("sklearn")
    monkeypatch.setenv("INCR_TESTS_EXEC", "1")  # a new process: no scikit-learn loaded yet
    monkeypatch.setenv("INCR_NO_GRAPH_CACHE", "1")  # a status imports the modules anew
    project = make_project({"pipelines/models.py": FIRST_IN_A_STEP})
    project.repro()
    assert project.take_ran() == ["make", "use"]  # use waited for the next pass
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


NEVER_SETTLES = """\
    import json
    import uuid

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    NAMES = json.load(open("data/manifest.json"))


    class C(StepConfig):
        name: str = ""


    @step(outs=["data/manifest.json"], enable_cache=False)
    def stamp() -> int:
        mark("stamp")
        json.dump(["a", uuid.uuid4().hex[:6]], open("data/manifest.json", "w"))
        return 1


    @step
    def each(config: C) -> str:
        mark("each")
        return config.name


    @pipeline
    def flow():
        stamp()
        for n in NAMES:
            each(config=C(name=n), name=f"each_{n}")
    """


def test_a_manifest_that_never_settles_stops_after_the_last_pass(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/flow.py": NEVER_SETTLES, "data/manifest.json": '["a"]'})
    result = project.repro()
    assert project.take_ran() == ["stamp", "stamp", "stamp", "each", "each"]
    assert "again after the pipelines were opened for the last time (3 passes)" in result.output


def test_a_module_a_script_imports_again_is_valued_as_it_read_the_file_then(
    make_project: MakeProject,
) -> None:
    """``importlib.reload`` of the reading module after the first run (a notebook's
    autoreload does the same): its import read the new file, so its step runs with it."""
    project = make_project(
        {
            "pipelines/a_use.py": READER,
            "pipelines/b_make.py": MAKER,
            "data/m.json": '{"v": 0}',
            "k.json": '{"k": 1}',
            "n.json": '{"n": 3}',
            "run.py": """\
                import importlib

                import pipelines.a_use as reader
                from pipelines.b_make import b_make

                if __name__ == "__main__":
                    b_make().run()
                    importlib.reload(reader)
                    reader.a_use().run()
                """,
        }
    )
    result = project.python("run.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["make", "use"]
    assert project.dirty() == {}


def test_steps_held_for_a_pass_a_failure_stops_are_said_skipped(
    make_project: MakeProject,
) -> None:
    """Without ``--keep-going`` a failure stops the run before its next pass: the steps held
    for that pass are listed as skipped, with why."""
    boom = LABELS.replace(
        "    @pipeline\n",
        "    @step\n    def boom() -> int:\n        import time\n\n"
        "        time.sleep(1.5)\n        raise RuntimeError('boom')\n\n\n    @pipeline\n",
    ).replace(
        "        report(encode(prepare()))\n", "        boom()\n        report(encode(prepare()))\n"
    )  # boom starts first, prepare beside it
    project = make_project(
        {
            "pipelines/flow.py": boom,
            "data/raw.txt": "cat dog\n",
            "data/labels.json": json.dumps({"cat": 0}),
        }
    )
    result = project.incr("repro", "--jobs", "2")
    assert result.returncode != 0
    assert project.take_ran() == ["prepare"]
    assert "Skipped encode, report: they waited for a next pass" in result.output, result.output


def test_a_module_reading_at_import_a_file_a_step_writes_is_imported_after_that_step(
    make_project: MakeProject, tmp_path
) -> None:
    """A fresh clone (the lockfile committed, the file not there): ``incr status`` judges
    the other pipelines and says the module is not judged yet, naming the step writing the
    file (``incr status TARGET`` and ``--check`` keep the import error); ``incr repro``
    imports the other modules, runs that step, then imports the module and runs its pipeline
    (``incr.deferred``). Before, nothing ran: the import error ended the run, and ended
    ``incr status`` too."""
    unguarded = READER.replace(
        'json.load(open("data/m.json")) if os.path.exists("data/m.json") else {"v": 0}',
        'json.load(open("data/m.json"))',
    )
    project = make_project(
        {"pipelines/a_use.py": unguarded, "pipelines/b_make.py": MAKER, "data/notes.txt": ""}
    )
    (project.root / "k.json").write_text('{"k": 1}')
    (project.root / "n.json").write_text('{"n": 2}')
    project.repro()  # a first run: the writer is known by its outs
    assert project.take_ran() == ["make", "use"]
    (project.root / "data/m.json").unlink()
    shutil.rmtree(project.root / ".pipecache")  # a fresh clone
    status = project.incr("status")
    assert status.returncode == 0, status.output
    assert "b_make:\n  make  dirty: output missing" in status.stdout
    assert "a_use" not in status.stdout.partition("note:")[0]  # not judged: not listed
    assert (
        "note: pipelines/a_use.py (1 step in pipeline.lock) is not judged: it reads data/m.json"
        " as it is imported; data/m.json is not there yet, and step b_make.make writes it"
        in status.stdout
    )
    assert "keeps" not in status.stdout  # not taken for entries of a pipeline not found
    for args in (["status", "--check"], ["status", "b_make"]):
        assert "import failed: FileNotFoundError" in project.incr(*args).user_error()
    result = project.incr("repro")
    assert result.returncode == 0, result.output
    assert "pipelines/a_use.py read data/m.json as they are imported" in result.output
    assert project.take_ran() == ["make", "use"]  # (no cache to put them back from)
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_a_module_reading_at_import_a_file_no_step_writes_fails_as_before(
    make_project: MakeProject,
) -> None:
    """A file no step lists in its outs and the lockfile does not name: the import error
    ends the run, saying so."""
    unguarded = READER.replace("data/m.json", "data/other.json")
    project = make_project(
        {"pipelines/a_use.py": unguarded, "pipelines/b_make.py": MAKER, "data/notes.txt": ""}
    )
    (project.root / "k.json").write_text('{"k": 1}')
    (project.root / "n.json").write_text('{"n": 2}')
    project.repro()
    assert project.take_ran() == ["use", "make"]
    (project.root / "pipelines/a_use.py").write_text(
        textwrap.dedent(unguarded).replace(
            'json.load(open("data/other.json")) if os.path.exists("data/other.json") else {"v": 0}',
            'json.load(open("data/other.json"))',
        )
    )
    assert "import failed: FileNotFoundError" in project.incr("repro").user_error()
    assert "pipeline.lock names no step writing it" in project.incr("repro").stderr
    assert project.take_ran() == []


DISCOVERED = """\
    import json
    import os
    import time
    from pathlib import Path

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    MANIFEST = "data/manifest.json"


    class Shard(StepConfig):
        name: str = ""


    @step(outs=[MANIFEST])
    def discover() -> int:
        mark("discover")
        time.sleep(0.5)  # long enough for a step beside it to start under --jobs
        names = sorted(p.stem for p in Path("data/raw").glob("*.txt"))
        Path(MANIFEST).write_text(json.dumps(names))
        return len(names)


    @step
    def count(config: Shard) -> int:
        mark(f"count_{config.name}")
        return len(Path(f"data/raw/{config.name}.txt").read_text().split())


    @pipeline
    def shards():
        discover()
        names = json.load(open(MANIFEST)) if os.path.exists(MANIFEST) else []
        for n in names:
            count(config=Shard(name=n), name=f"count_{n}")
    """


def test_under_jobs_no_step_starts_beside_the_writer_of_the_manifest(
    make_project: MakeProject,
) -> None:
    """A shard removed by hand: its step, dirty, started beside ``discover`` under ``--jobs
    2`` and failed on the file gone (FileNotFoundError), where a serial run held it."""
    project = make_project(
        {"pipelines/shards.py": DISCOVERED, "data/raw/a.txt": "x y", "data/raw/b.txt": "z"}
    )
    project.repro("--jobs", "2")
    project.take_ran()
    (project.root / "data/raw/b.txt").unlink()
    (project.root / "data/raw/c.txt").write_text("u v w")
    project.repro("--jobs", "2")
    assert sorted(project.take_ran()) == ["count_c", "discover"]
    assert project.dirty() == {}


FAILING_WRITER = {
    "pipelines/vocab.py": """\
        import json
        import os

        VOCAB = json.load(open("data/vocab.json")) if os.path.exists("data/vocab.json") else {}
        """,
    "pipelines/a_prep.py": """\
        import json
        from pathlib import Path

        from incr import pipeline, step
        from pipelines.mark import mark


        @step(outs=["data/vocab.json"])
        def build_vocab() -> int:
            mark("build_vocab")
            words = sorted(set(Path("data/corpus.txt").read_text().split()))
            if "dog" in words:
                raise ValueError("bad corpus")
            Path("data/vocab.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
            return len(words)


        @pipeline
        def a_prep():
            build_vocab()
        """,
    "pipelines/b_train.py": """\
        from pathlib import Path

        from incr import pipeline, step
        from pipelines.mark import mark
        from pipelines.vocab import VOCAB


        @step
        def encode() -> list:
            mark("encode")
            return [VOCAB.get(w, -1) for w in Path("data/test.txt").read_text().split()]


        @pipeline
        def b_train():
            encode()
        """,
}


def test_a_failing_writer_of_a_file_read_at_import_fails_once(make_project: MakeProject) -> None:
    """With ``--keep-going``, the writer of a file a module reads at import fails: its outs
    were cleared, the modules are imported again, and the next pass does not run it again
    (the same code and inputs). Before, it executed and failed once more (its traceback
    twice); under ``--jobs`` a failing step beside it did too."""
    files = {k: textwrap.dedent(v) for k, v in FAILING_WRITER.items()}
    project = make_project({**files, "data/corpus.txt": "cat\n", "data/test.txt": "cat dog\n"})
    project.repro()
    assert project.take_ran() == ["build_vocab", "encode"]
    (project.root / "data/corpus.txt").write_text("cat dog\n")
    result = project.incr("repro", "--keep-going")
    assert result.returncode != 0
    assert project.take_ran() == ["build_vocab", "encode"], result.output
    assert result.output.count("ValueError: bad corpus") == 1, result.output
    assert "it failed in a pass before (above): not run again" in result.output
