"""Learned facts from imports and the environment: files a project module reads while it is
imported, and environment variables the project's code reads, reach exactly the steps whose
code uses them.

Each test builds a real project, drives the ``incr`` command line in subprocesses (they inherit
this process's environment, set with ``monkeypatch``), checks the reason ``incr status`` gives
before a repro, which steps ran (``ran.txt``), what ``pipeline.lock`` holds, and that the
outputs equal those of a from-scratch run of the same project.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from incr import cachefile

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

DIGEST = re.compile(r"[0-9a-f]{64}")
SECRET = "s3cr3t-value-never-stored"


def outputs(project: Project) -> dict[str, dict[str, str]]:
    """Each step's output digests, as the lockfile records them."""
    return {
        key: {name: a.digest for name, a in entry.outputs.items()}
        for key, entry in project.lock().items()
    }


def from_scratch(project: Project, tmp_path: Path, *args: str) -> dict[str, dict[str, str]]:
    """The outputs of a run of a copy of the project without its lockfile and cache."""
    copy = Project(tmp_path / f"scratch-{len(list(tmp_path.glob('scratch-*')))}")
    shutil.copytree(
        project.root, copy.root, ignore=shutil.ignore_patterns(".pipecache", "pipeline.lock")
    )
    copy.repro(*args)
    return outputs(copy)


def imports(project: Project) -> int:
    """How many times pipeline modules were imported since the last call."""
    path = project.root / "imported.txt"
    count = len(path.read_text(encoding="utf-8").split()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


def cached_files_text(project: Project) -> str:
    """Every text file incr keeps in the cache, and the lockfile."""
    texts = [project.lockfile.read_text(encoding="utf-8")]
    for path in (project.root / ".pipecache").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


# ======================================== files read while a module is imported

UTIL = """\
    def read_pairs(path):
        with open(path, encoding="utf-8") as fh:
            return dict(line.split(": ") for line in fh.read().splitlines() if line)


    def shout(text):
        return text.upper()
    """

# The helper module reads params.yaml at import, through a helper of another module.
LOOKUP = """\
    from pipelines.util import read_pairs

    PARAMS = read_pairs("params.yaml")


    def factor():
        return int(PARAMS["factor"])
    """

# Imported by the pipeline, but no step uses anything of it.
UNUSED = """\
    from pipelines.util import read_pairs

    OTHER = read_pairs("other.yaml")


    def unused():
        return OTHER
    """

LOOKUP_FLOW = """\
    with open("imported.txt", "a", encoding="utf-8") as _fh:
        _fh.write("flow\\n")

    from incr import pipeline, step
    from pipelines import unused as _unused
    from pipelines.lookup import factor
    from pipelines.mark import mark
    from pipelines.util import shout


    @step
    def uses() -> int:
        mark("uses")
        return factor() * 10


    @step
    def other() -> str:
        mark("other")
        return shout("plain")


    @pipeline
    def flow():
        uses()
        other()
    """


@pytest.fixture
def lookup(make_project: MakeProject) -> Project:
    project = make_project(
        {
            "pipelines/util.py": UTIL,
            "pipelines/lookup.py": LOOKUP,
            "pipelines/unused.py": UNUSED,
            "pipelines/flow.py": LOOKUP_FLOW,
            "params.yaml": "factor: 2\n",
            "other.yaml": "colour: red\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["uses", "other"]
    imports(project)
    return project


PARAMS_KEY = "import:pipelines/lookup.py:params.yaml"


def test_a_file_read_at_import_is_a_fact_of_the_steps_using_the_module(lookup: Project) -> None:
    lock = lookup.lock()
    assert list(lock["flow.uses"].reads) == [PARAMS_KEY]
    assert DIGEST.fullmatch(lock["flow.uses"].reads[PARAMS_KEY])
    # ``other`` uses util.py, whose helper did the reading, but util.py read nothing itself.
    assert lock["flow.other"].reads == {}
    assert lookup.dirty() == {}
    assert imports(lookup) == 0  # a no-op status imports no pipeline module


def test_an_edited_file_read_at_import_reruns_only_its_users(
    lookup: Project, tmp_path: Path
) -> None:
    (lookup.root / "params.yaml").write_text("factor: 3\n", encoding="utf-8")
    assert lookup.dirty() == {
        "uses": [("read changed", "params.yaml, read when pipelines/lookup.py is imported")]
    }
    result = lookup.incr("status")
    assert "read changed (params.yaml, read when pipelines/lookup.py is imported)" in result.stdout

    lookup.repro()
    assert lookup.take_ran() == ["uses"]
    assert lookup.dirty() == {}
    assert outputs(lookup) == from_scratch(lookup, tmp_path)
    assert lookup.lock()["flow.uses"].reads[PARAMS_KEY] != "missing"


def test_reverting_a_file_read_at_import_restores_without_running(lookup: Project) -> None:
    first = outputs(lookup)
    (lookup.root / "params.yaml").write_text("factor: 3\n", encoding="utf-8")
    lookup.repro()
    assert lookup.take_ran() == ["uses"]
    (lookup.root / "params.yaml").write_text("factor: 2\n", encoding="utf-8")
    lookup.repro()
    assert lookup.take_ran() == []  # the run cache holds the result for these bytes
    assert outputs(lookup) == first
    assert lookup.dirty() == {}


def test_a_file_read_by_a_module_no_step_uses_changes_nothing(lookup: Project) -> None:
    lock = lookup.lock_bytes()
    (lookup.root / "other.yaml").write_text("colour: blue\n", encoding="utf-8")
    assert lookup.dirty() == {}
    lookup.repro()
    assert lookup.take_ran() == []
    assert lookup.lock_bytes() == lock


def test_a_module_that_starts_reading_a_file_dirties_the_steps_using_it(
    lookup: Project, tmp_path: Path
) -> None:
    (lookup.root / "conf").mkdir()
    (lookup.root / "conf/w.json").write_text('{"w": 1}\n', encoding="utf-8")
    # A new top-level read bound to a name no step's code uses: nothing to rerun.
    with (lookup.root / "pipelines/lookup.py").open("a", encoding="utf-8") as fh:
        fh.write('\nWEIGHTS = read_pairs("conf/w.json")\n')
    assert lookup.dirty() == {}
    # A new top-level read by a statement that does more than bind a name (a store into a
    # dict): the code of ``uses`` is the same, but lookup.py now reads conf/w.json while it is
    # imported.
    lookup.edit(
        "pipelines/lookup.py",
        'WEIGHTS = read_pairs("conf/w.json")',
        'WEIGHTS = {}\nWEIGHTS["w"] = read_pairs("conf/w.json")',
    )
    assert lookup.dirty() == {
        "uses": [("read changed", "conf/w.json, read when pipelines/lookup.py is imported")]
    }
    lookup.repro()
    assert lookup.take_ran() == ["uses"]
    assert sorted(lookup.lock()["flow.uses"].reads) == [
        "import:pipelines/lookup.py:conf/w.json",
        PARAMS_KEY,
    ]
    assert lookup.dirty() == {}
    assert outputs(lookup) == from_scratch(lookup, tmp_path)


WEIGHTS_FLOW = """\
    import json

    from incr import pipeline, step
    from pipelines.mark import mark

    WEIGHTS = json.load(open("conf/weights.json", encoding="utf-8"))


    @step
    def weigh() -> float:
        mark("weigh")
        return WEIGHTS["a"] * 2.0


    @pipeline
    def weights():
        weigh()
    """

ELSEWHERE_FLOW = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def elsewhere() -> int:
        mark("elsewhere")
        return 7


    @pipeline
    def apart():
        elsewhere()
    """


def test_a_json_read_at_import_of_the_pipeline_module_itself(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(
        {
            "pipelines/weights.py": WEIGHTS_FLOW,
            "pipelines/apart.py": ELSEWHERE_FLOW,
            "conf/weights.json": '{"a": 1.5}',
        }
    )
    project.repro()
    assert sorted(project.take_ran()) == ["elsewhere", "weigh"]
    key = "import:pipelines/weights.py:conf/weights.json"
    assert list(project.lock()["weights.weigh"].reads) == [key]
    assert project.lock()["apart.elsewhere"].reads == {}

    (project.root / "conf/weights.json").write_text('{"a": 4.0}', encoding="utf-8")
    assert project.dirty() == {
        "weigh": [("read changed", "conf/weights.json, read when pipelines/weights.py is imported")]
    }
    project.repro()
    assert project.take_ran() == ["weigh"]
    assert project.dirty() == {}
    assert outputs(project) == from_scratch(project, tmp_path)


# ======================================== environment variables

ENV_HELPERS = """\
    import os


    def bins():
        return int(os.getenv("BINS", "4"))
    """

LOUDNESS = """\
    import os

    LOUD = "LOUD_MODE" in os.environ


    def loudness():
        return "LOUD" if LOUD else "quiet"
    """

# LOUD_MODE is tested at import of loudness.py; LIMIT is read in a step (unset at first); BINS
# through a helper; SCALE directly in a step; DECLARED only declared (its value is not used).
ENV_FLOW = """\
    with open("imported.txt", "a", encoding="utf-8") as _fh:
        _fh.write("envflow\\n")

    import os
    import string
    import tempfile

    from incr import pipeline, step
    from pipelines.envhelpers import bins
    from pipelines.loudness import loudness
    from pipelines.mark import mark


    @step
    def scaled() -> int:
        mark("scaled")
        return int(os.environ["SCALE"]) * 2


    @step
    def binned() -> int:
        mark("binned")
        return bins() + 1


    @step
    def limited() -> int:
        mark("limited")
        return int(os.environ.get("LIMIT", "100"))


    @step
    def loud() -> str:
        mark("loud")
        return loudness()


    @step
    def plain() -> str:
        mark("plain")
        tempfile.gettempdir()  # the standard library reads TMPDIR: not the project's read
        os.path.expanduser("~")  # HOME, likewise
        return string.ascii_lowercase[:3]


    @step(env=["DECLARED"])
    def declared() -> str:
        mark("declared")
        return string.Template("$x").substitute(x="declared")


    @pipeline
    def envflow():
        scaled()
        binned()
        limited()
        loud()
        plain()
        declared()
    """

ENV_ORDER = ["scaled", "binned", "limited", "loud", "plain", "declared"]


@pytest.fixture
def envflow(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("SCALE", "3")
    monkeypatch.setenv("BINS", "5")
    monkeypatch.setenv("DECLARED", SECRET)
    monkeypatch.setenv("UNRELATED_VARIABLE", "a")
    for name in ("LIMIT", "LOUD_MODE", "TMPDIR"):
        monkeypatch.delenv(name, raising=False)
    project = make_project(
        {
            "pipelines/envhelpers.py": ENV_HELPERS,
            "pipelines/loudness.py": LOUDNESS,
            "pipelines/envflow.py": ENV_FLOW,
        }
    )
    project.repro()
    assert project.take_ran() == ENV_ORDER
    imports(project)
    return project


def test_variables_read_by_project_code_are_recorded_as_digests(envflow: Project) -> None:
    lock = envflow.lock()
    assert list(lock["envflow.scaled"].reads) == ["$SCALE"]
    assert list(lock["envflow.binned"].reads) == ["$BINS"]  # read in a helper
    assert lock["envflow.limited"].reads == {"$LIMIT": "unset"}
    assert lock["envflow.loud"].reads == {"$LOUD_MODE": "unset"}  # tested at import
    assert lock["envflow.plain"].reads == {}  # TMPDIR and HOME: read by the standard library
    assert list(lock["envflow.declared"].reads) == ["$DECLARED"]
    for key in ("scaled", "binned", "declared"):
        (value,) = lock[f"envflow.{key}"].reads.values()
        assert re.fullmatch(r"[0-9a-f]{32}", value), value
    assert SECRET not in cached_files_text(envflow)  # never the value, anywhere incr writes
    assert envflow.dirty() == {}
    assert imports(envflow) == 0


def test_a_changed_variable_reruns_only_its_readers(
    envflow: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCALE", "4")
    monkeypatch.setenv("BINS", "6")
    assert envflow.dirty() == {
        "scaled": [("env changed", "SCALE")],
        "binned": [("env changed", "BINS")],
    }
    lines = [" ".join(line.split()) for line in envflow.incr("status").stdout.splitlines()]
    assert "binned dirty: env changed (BINS)" in lines
    envflow.repro()
    assert envflow.take_ran() == ["scaled", "binned"]
    assert envflow.dirty() == {}
    assert outputs(envflow) == from_scratch(envflow, tmp_path)


def test_an_unset_variable_that_gets_set_dirties_its_reader(
    envflow: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LIMIT", "7")
    assert envflow.dirty() == {"limited": [("env changed", "LIMIT")]}
    envflow.repro()
    assert envflow.take_ran() == ["limited"]
    assert envflow.lock()["envflow.limited"].reads["$LIMIT"] != "unset"
    assert outputs(envflow) == from_scratch(envflow, tmp_path)


def test_a_variable_tested_at_import_dirties_the_steps_using_the_module(
    envflow: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOUD_MODE", "")
    assert envflow.dirty() == {"loud": [("env changed", "LOUD_MODE")]}
    envflow.repro()
    assert envflow.take_ran() == ["loud"]
    assert envflow.dirty() == {}
    assert outputs(envflow) == from_scratch(envflow, tmp_path)


def test_a_removed_variable_dirties_its_reader(
    envflow: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINS")
    assert envflow.dirty() == {"binned": [("env changed", "BINS")]}
    envflow.repro()
    assert envflow.take_ran() == ["binned"]
    assert envflow.lock()["envflow.binned"].reads["$BINS"] == "unset"


def test_a_declared_variable_is_always_recorded(
    envflow: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DECLARED", "other")
    assert envflow.dirty() == {"declared": [("env changed", "DECLARED")]}
    envflow.repro()
    assert envflow.take_ran() == ["declared"]


def test_variables_no_project_code_reads_change_nothing(
    envflow: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock = envflow.lock_bytes()
    monkeypatch.setenv("UNRELATED_VARIABLE", "b")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert envflow.dirty() == {}
    envflow.repro()
    assert envflow.take_ran() == []
    assert envflow.lock_bytes() == lock
    assert imports(envflow) == 0  # nothing dirty, graphs from the cache: nothing imported


FAKE_PACKAGE = """\
import os


def setting():
    return os.environ.get("FAKEPKG_SETTING", "default")
"""

THIRD_PARTY_FLOW = """\
    from fakepkg import setting
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def configured() -> str:
        mark("configured")
        return setting()


    @pipeline
    def third():
        configured()
    """


def fakepkg_project(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> Project:
    """A project whose step calls ``fakepkg``, put in ``folder`` on ``PYTHONPATH``."""
    (folder / "fakepkg").mkdir(parents=True)
    (folder / "fakepkg/__init__.py").write_text(FAKE_PACKAGE, encoding="utf-8")
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), *inherited]))
    monkeypatch.setenv("FAKEPKG_SETTING", "one")
    project = make_project({"pipelines/third.py": THIRD_PARTY_FLOW})
    project.repro()
    assert project.take_ran() == ["configured"]
    return project


def test_an_installed_package_reading_a_variable_for_a_step_is_recorded(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A configuration library (decouple, environs) looks the variable up for the step: its
    value decides the result as if the step had read it."""
    project = fakepkg_project(make_project, monkeypatch, tmp_path / "lib" / "site-packages")
    assert list(project.lock()["third.configured"].reads) == ["$FAKEPKG_SETTING"]
    assert project.dirty() == {}
    monkeypatch.setenv("FAKEPKG_SETTING", "two")
    assert project.dirty() == {"configured": [("env changed", "FAKEPKG_SETTING")]}
    project.repro()
    assert project.take_ran() == ["configured"]


def test_a_local_package_reading_a_variable_is_recorded(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A shared library on ``PYTHONPATH``, not installed, is code of the user's like the
    project's: what it reads of the environment for a step counts for that step."""
    project = fakepkg_project(make_project, monkeypatch, tmp_path / "libs")
    assert list(project.lock()["third.configured"].reads) == ["$FAKEPKG_SETTING"]
    assert project.dirty() == {}
    monkeypatch.setenv("FAKEPKG_SETTING", "two")
    assert list(project.dirty()) == ["configured"]
    project.repro()
    assert project.take_ran() == ["configured"]
    assert project.dirty() == {}


# ======================================== wiring, parallel runs, scripts

WIRED_FLOW = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    COPIES = int(os.environ.get("COPIES", "1"))


    @step
    def copy() -> int:
        mark("copy")
        return 1


    @pipeline
    def wired():
        for _ in range(COPIES):
            copy()
    """


def test_wiring_that_reads_a_variable_at_import_is_traced_again_when_it_changes(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPIES", "1")
    project = make_project({"pipelines/wired.py": WIRED_FLOW})
    project.repro()
    assert project.take_ran() == ["copy"]
    graph = cachefile.read(project.root / ".pipecache/graph.bin")
    assert list(graph["key"]["env"]) == ["COPIES"]
    assert "1" not in graph["key"]["env"].values()
    monkeypatch.setenv("COPIES", "2")
    # (``copy``'s code does not use COPIES: only the wiring does)
    assert project.dirty() == {"copy_2": [("new step", "")]}


JOBS_FLOW = """\
    import os

    from incr import pipeline, step
    from pipelines.lookup import factor
    from pipelines.mark import mark


    @step
    def left() -> int:
        mark("left")
        return int(os.environ["SIDE"]) + factor()


    @step
    def right() -> int:
        mark("right")
        return 2


    @pipeline
    def sides():
        left()
        right()
    """


def test_jobs_record_env_and_import_reads_like_a_serial_run(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIDE", "1")
    project = make_project(
        {
            "pipelines/util.py": UTIL,
            "pipelines/lookup.py": LOOKUP,
            "pipelines/sides.py": JOBS_FLOW,
            "params.yaml": "factor: 2\n",
        }
    )
    project.repro("--jobs", "2")
    assert sorted(project.take_ran()) == ["left", "right"]
    assert sorted(project.lock()["sides.left"].reads) == ["$SIDE", PARAMS_KEY]
    assert project.dirty() == {}
    monkeypatch.setenv("SIDE", "5")
    (project.root / "params.yaml").write_text("factor: 3\n", encoding="utf-8")
    assert project.dirty() == {
        "left": [
            ("read changed", "params.yaml, read when pipelines/lookup.py is imported"),
            ("env changed", "SIDE"),
        ]
    }
    project.repro("--jobs", "2")
    assert project.take_ran() == ["left"]
    assert project.dirty() == {}
    assert outputs(project) == from_scratch(project, tmp_path)


SCRIPT_FLOW = """\
    import os

    from incr import pipeline, step
    from pipelines.lookup import factor
    from pipelines.mark import mark

    TAG = os.environ.get("TAG", "none")


    @step
    def tagged() -> str:
        mark("tagged")
        return f"{TAG}-{factor()}-{os.environ['SIDE']}"


    @pipeline
    def scripted():
        tagged()


    if __name__ == "__main__":
        scripted().run()
    """


def test_a_script_run_records_what_the_command_line_checks(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIDE", "1")
    monkeypatch.setenv("TAG", "t1")
    project = make_project(
        {
            "pipelines/util.py": UTIL,
            "pipelines/lookup.py": LOOKUP,
            "pipelines/scripted.py": SCRIPT_FLOW,
            "params.yaml": "factor: 2\n",
        }
    )
    result = project.python("pipelines/scripted.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["tagged"]
    reads = project.lock()["scripted.tagged"].reads
    assert sorted(reads) == ["$SIDE", "$TAG", PARAMS_KEY]
    assert project.dirty() == {}  # the command line agrees with what the script recorded

    (project.root / "params.yaml").write_text("factor: 3\n", encoding="utf-8")
    monkeypatch.setenv("TAG", "t2")
    assert project.dirty() == {
        "tagged": [
            ("read changed", "params.yaml, read when pipelines/lookup.py is imported"),
            ("env changed", "TAG"),
        ]
    }
    result = project.python("pipelines/scripted.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["tagged"]
    assert project.dirty() == {}
    assert outputs(project) == from_scratch(project, tmp_path)
    again = project.python("pipelines/scripted.py")
    assert again.returncode == 0, again.output
    assert project.take_ran() == []


SET_BY_A_STEP = """\
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Precision(StepConfig):
        bits: str = "32"


    @step
    def setup(config: Precision) -> str:
        mark("setup")
        os.environ["PRECISION"] = config.bits
        return config.bits


    @step
    def train() -> str:
        mark("train")
        return "trained@" + os.environ.get("PRECISION", "64")


    @pipeline
    def env_step():
        setup(config=Precision())
        train()
    """


@pytest.mark.parametrize(
    "jobs", [[], ["--jobs", "1"], ["--jobs", "2"]], ids=["in-process", "one-worker", "jobs"]
)
def test_a_variable_an_earlier_step_set_is_not_seen_by_the_steps_after_it(
    make_project: MakeProject, tmp_path: Path, jobs: list[str]
) -> None:
    """Each step starts with the environment the run started with, in any process and
    whichever steps ran (a cached ``setup`` sets nothing): the setting step says so."""
    project = make_project({"pipelines/env_step.py": SET_BY_A_STEP})
    result = project.repro(*jobs)
    assert sorted(project.take_ran()) == ["setup", "train"]
    assert "step env_step.setup sets $PRECISION in the environment" in result.stderr
    serial = outputs(project)

    project.edit("pipelines/env_step.py", 'bits: str = "32"', 'bits: str = "16"')
    assert set(project.dirty()) == {"setup"}
    project.repro(*jobs)
    assert project.take_ran() == ["setup"]
    assert outputs(project)["env_step.train"] == serial["env_step.train"]
    assert outputs(project) == from_scratch(project, tmp_path, *jobs)


def test_a_variable_set_before_the_run_gets_its_value_back_after_the_step(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that overwrites a variable the run started with leaves the old value to the
    steps after it, not only a removal."""
    monkeypatch.setenv("PRECISION", "8")
    project = make_project({"pipelines/env_step.py": SET_BY_A_STEP})
    project.repro()
    assert sorted(project.take_ran()) == ["setup", "train"]
    digest = project.lock()["env_step.train"].outputs["output"].digest
    assert json.loads(project.object_bytes(digest)) == "trained@8"


def test_a_variable_a_library_sets_when_imported_stays_without_a_note(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what the project's own code sets is put back after a step: a library imported in
    a step may set a variable for itself (scikit-learn's ``KMP_INIT_AT_FORK``)."""
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "setslib.py").write_text(
        'import os\nos.environ["INCR_TEST_LIBVAR"] = "1"\n', encoding="utf-8"
    )
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *([path] if path else [])]))
    project = make_project(
        {
            "pipelines/lib_env.py": """\
                import os

                from incr import pipeline, step


                @step
                def first() -> str:
                    import setslib  # noqa: F401

                    return os.environ.get("INCR_TEST_LIBVAR", "unset")


                @step(outs=["v.txt"])
                def second(x: str) -> None:
                    with open("v.txt", "w") as fh:
                        fh.write(x + os.environ.get("INCR_TEST_LIBVAR", "unset"))


                @pipeline
                def lib_env():
                    second(first())
                """
        }
    )
    result = project.repro()
    assert "in the environment" not in result.stderr
    assert project.read("v.txt") == "11"


MAIN_SETS_ENV = """\
import argparse
import os

from incr import pipeline, step

from pipelines.mark import mark


@step
def gen() -> int:
    mark("gen")
    return int(os.environ.get("N_SAMPLES", "10"))


@pipeline
def envp():
    gen()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", default="20")
    os.environ["N_SAMPLES"] = parser.parse_args().n
    envp().run()
"""


def test_a_variable_a_main_block_sets_before_run_counts_as_the_steps_see_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``os.environ["N_SAMPLES"] = args.n`` before ``.run()``: the step reads it as set (by
    the script, or by discovery running the block), and it is recorded so; it was recorded
    as the shell had it (unset), so that a new default left the step clean and stale, and a
    ``python`` run of the script made ``incr status`` rerun it for nothing."""
    project = make_project({"pipelines/envp.py": MAIN_SETS_ENV})
    project.repro()
    assert project.take_ran() == ["gen"]
    assert project.dirty() == {}
    assert project.python("pipelines/envp.py").returncode == 0
    assert project.take_ran() == []
    assert project.dirty() == {}
    project.edit("pipelines/envp.py", 'default="20"', 'default="30"')
    assert ("env changed", "N_SAMPLES") in project.dirty()["gen"]  # (and the block's code)
    project.repro()
    assert project.take_ran() == ["gen"]
    assert project.dirty() == {}  # the graph cache knows what the block sets
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


ENV_INIT = """\
import os

for line in open(".env", encoding="utf-8"):
    name, _, value = line.strip().partition("=")
    os.environ.setdefault(name, value)
"""

ENV_TRAIN = """\
import os

from incr import pipeline, step


@step
def fit() -> int:
    with open("ran.txt", "a", encoding="utf-8") as fh:  # no import of the package here
        fh.write("fit\\n")
    return int(os.environ["EPOCHS"])


@pipeline
def train():
    fit()


instance = train()

if __name__ == "__main__":
    instance.run()
"""


def test_a_script_records_the_variables_its_package_loads_as_the_step_saw_them(
    make_project: MakeProject,
) -> None:
    """``python pipelines/train.py``, whose package loads ``.env`` into ``os.environ`` when
    ``.run()`` imports it: the step saw EPOCHS but it was recorded unset, so an edit of
    ``.env`` reused the step, and the script and ``incr`` undid each other's entries."""
    project = make_project(
        {"pipelines/__init__.py": ENV_INIT, "pipelines/train.py": ENV_TRAIN, ".env": "EPOCHS=4\n"}
    )
    assert project.python("pipelines/train.py").returncode == 0
    assert project.take_ran() == ["fit"]
    assert project.dirty() == {}
    project.write({".env": "EPOCHS=5\n"})
    assert project.python("pipelines/train.py").returncode == 0
    assert project.take_ran() == ["fit"]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


DOTENV_IN_A_STEP = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def setup() -> int:
        mark("setup")
        from dotenv import load_dotenv

        load_dotenv()
        return 1


    @step
    def use(ready: int) -> str:
        mark("use")
        return os.environ.get("API_MODE", "none")


    @pipeline
    def dotenv_step():
        use(setup())
    """


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_a_variable_a_library_sets_for_a_step_is_not_seen_by_the_steps_after_it(
    make_project: MakeProject, tmp_path: Path, jobs: list[str]
) -> None:
    """``load_dotenv()`` called in a step sets ``$API_MODE`` through python-dotenv: it is put
    back after the step, as a variable the step's own code sets. Before, ``use`` saw it on the
    first run, then was dirty (``env changed (API_MODE)``), ran again without it (``setup``
    cached sets nothing) and kept ``none``, where a run from scratch gave ``fast``."""
    project = make_project(
        {"pipelines/dotenv_step.py": DOTENV_IN_A_STEP, ".env": "API_MODE=fast\n"}
    )
    result = project.repro(*jobs)
    assert sorted(project.take_ran()) == ["setup", "use"]
    assert "step dotenv_step.setup sets $API_MODE in the environment" in result.stderr
    assert project.dirty() == {}
    project.repro(*jobs)
    assert project.take_ran() == []
    digest = project.lock()["dotenv_step.use"].outputs["output"].digest
    assert json.loads(project.object_bytes(digest)) == "none"
    assert outputs(project) == from_scratch(project, tmp_path, *jobs)
