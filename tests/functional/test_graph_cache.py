"""The graph cache: a no-op status or repro imports no pipeline module; any source edit does."""

from __future__ import annotations

import json
import shutil

import pytest

from incr import cachefile

from . import forkserver
from .conftest import MakeProject, Project

# The module records each import of itself in imported.txt: a real side effect to count.
PIPELINE = """\
    with open("imported.txt", "a", encoding="utf-8") as _fh:
        _fh.write("chain\\n")

    from incr import pipeline, step
    from pipelines.helpers import bump
    from pipelines.mark import mark


    @step
    def first() -> int:
        mark("first")
        return 1


    @step
    def second(x: int) -> int:
        mark("second")
        return bump(x)


    @pipeline
    def chain():
        second(first())
    """

HELPERS = """\
    def bump(x):
        return x + 1
    """


def imports(project: Project) -> int:
    path = project.root / "imported.txt"
    count = len(path.read_text(encoding="utf-8").split()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


def make(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/chain.py": PIPELINE, "pipelines/helpers.py": HELPERS})
    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert imports(project) == 1
    return project


def test_no_op_status_and_repro_import_nothing(make_project: MakeProject) -> None:
    project = make(make_project)

    assert project.dirty() == {}
    assert project.incr("status", "--check").returncode == 0
    project.repro()
    assert project.incr("show", "second").returncode == 0

    assert imports(project) == 0
    assert project.take_ran() == []


def test_an_edit_is_seen_and_re_imports(make_project: MakeProject) -> None:
    project = make(make_project)

    project.edit("pipelines/helpers.py", "x + 1", "x + 2")
    assert project.dirty() == {"second": [("code changed", "bump in pipelines/helpers.py")]}
    assert imports(project) == 1  # the helper module changed: the graphs are traced again
    project.repro()
    assert project.take_ran() == ["second"]
    assert imports(project) == 1
    assert project.dirty() == {}
    assert imports(project) == 0


def test_a_new_pipeline_module_is_discovered(make_project: MakeProject) -> None:
    project = make(make_project)
    project.write(
        {
            "pipelines/more.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark


                @step
                def extra() -> int:
                    mark("extra")
                    return 3


                @pipeline
                def more():
                    extra()
                """
        }
    )

    assert project.dirty() == {"extra": [("new step", "")]}
    project.repro()
    assert project.take_ran() == ["extra"]


def test_a_dirty_step_imports_to_run(make_project: MakeProject) -> None:
    project = make(make_project)
    assert not (project.root / ".pipecache/objects").exists(), "small values are packed"
    shutil.move(project.root / ".pipecache/packs", project.root / "gone")  # every value gone

    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert imports(project) == 1


def test_the_cache_can_be_turned_off(make_project: MakeProject, monkeypatch) -> None:
    project = make(make_project)
    monkeypatch.setenv("INCR_NO_GRAPH_CACHE", "1")

    assert project.dirty() == {}
    assert imports(project) == 1


# ---------------------------------------------------------------------- edits inside step bodies


def test_an_edit_inside_a_step_body_imports_nothing(make_project: MakeProject) -> None:
    project = make(make_project)

    project.edit("pipelines/chain.py", "return 1\n", "return 2  # now two\n")
    for _ in range(2):  # the first status re-keys the saved graphs, the second reads them
        assert project.dirty() == {
            "first": [("code changed", "first in pipelines/chain.py")],
            "second": [("after", "first")],
        }
    assert imports(project) == 0  # the saved graphs were right: kept, and re-keyed

    project.repro()  # a step must run: now the modules are imported
    assert project.take_ran() == ["first", "second"]
    assert imports(project) == 1
    assert project.lock()["chain.second"].outputs["output"].digest
    assert project.dirty() == {}
    assert imports(project) == 0


def test_a_comment_or_layout_change_in_the_pipeline_imports_nothing(
    make_project: MakeProject,
) -> None:
    project = make(make_project)

    project.edit("pipelines/chain.py", "second(first())", "second(  # wired here\n        first())")
    assert project.dirty() == {}
    assert imports(project) == 0


#: A pipeline module without steps of its own: no run keeps its text for a diff.
WIRES = """\
    with open("imported.txt", "a", encoding="utf-8") as _fh:
        _fh.write("wires\\n")

    from incr import pipeline
    from pipelines.steps import first, second


    @pipeline
    def wired():
        second(first())
    """

STEPS = """\
    from incr import step
    from pipelines.mark import mark


    @step
    def first() -> int:
        mark("first")
        return 1


    @step
    def second(x: int) -> int:
        mark("second")
        return x + 1
    """


def test_a_comment_in_a_module_without_steps_imports_nothing(make_project: MakeProject) -> None:
    """The wiring check compares the tree of the text now with that of the text the graphs
    were traced from, kept when they were saved (no tree is dumped before that)."""
    project = make_project({"pipelines/wires.py": WIRES, "pipelines/steps.py": STEPS})
    project.repro()
    assert project.take_ran() == ["first", "second"] and imports(project) == 1
    graphs = cachefile.read(project.root / ".pipecache/graph.bin")
    assert graphs["wiring"]["pipelines/wires.py"][0][1] is None, "no tree dumped on a save"

    project.edit("pipelines/wires.py", "second(first())", "second(  # wired here\n        first())")
    assert project.dirty() == {}
    assert imports(project) == 0


def test_without_the_earlier_text_a_comment_traces_again(make_project: MakeProject) -> None:
    project = make(make_project)
    shutil.rmtree(project.root / ".pipecache/sources")  # the kept texts are gone

    project.edit("pipelines/chain.py", "second(first())", "second(  # wired here\n        first())")
    assert project.dirty() == {}
    assert imports(project) == 1
    project.edit("pipelines/chain.py", "# wired here", "# wired here, again")
    assert project.dirty() == {}
    assert imports(project) == 0, "the text traced last was kept"


@pytest.mark.parametrize(
    ("old", "new", "dirty"),
    [
        # the pipeline body: a step more
        (
            "second(first())",
            "second(first())\n    second(first())",
            {"first_2": [("new step", "")], "second_2": [("new step", "")]},
        ),
        # a step's decorator
        ("@step\ndef first", "@step(enable_cache=False)\ndef first", {"first": "cache disabled"}),
        # a step's signature
        ("def second(x: int)", "def second(x: int, y: int = 2)", {}),
    ],
)
def test_a_wiring_edit_imports_again(make_project: MakeProject, old, new, dirty) -> None:
    project = make(make_project)

    project.edit("pipelines/chain.py", old, new)
    found = project.dirty()
    assert imports(project) == 1
    if dirty == {"first": "cache disabled"}:
        assert [kind for kind, _ in found["first"]] == ["cache disabled", "code changed"]
        assert project.status()["steps"][0]["step"] == "first"
    else:
        assert {k: v for k, v in found.items() if k in dirty} == dirty


def test_a_step_body_reached_through_entrypoint_imports_again(make_project: MakeProject) -> None:
    # A module that calls a step's body outside a run may wire the pipeline from its result:
    # then an edit inside any step body must re-trace.
    project = make_project(
        {
            "pipelines/chain.py": PIPELINE + "\n\n    N = len([first.entrypoint])\n",
            "pipelines/helpers.py": HELPERS,
        }
    )
    project.repro()
    assert imports(project) == 1

    project.edit("pipelines/chain.py", "return 1\n", "return 2\n")
    assert project.dirty()["first"] == [("code changed", "first in pipelines/chain.py")]
    assert imports(project) == 1


def test_a_syntax_error_inside_a_step_body_is_reported(make_project: MakeProject) -> None:
    project = make(make_project)

    project.edit("pipelines/chain.py", "return 1\n", "return (1\n")
    result = project.incr("status")
    assert result.returncode != 0
    assert "pipelines/chain.py:" in result.user_error() and "syntax" in result.user_error()


def test_a_step_body_run_at_import_through_unwrap_imports_again(make_project: MakeProject) -> None:
    # The pipeline's shape comes from a step's body run at import: an edit to that body must
    # re-trace (here: one more shard).
    project = make_project(
        {
            "pipelines/sharded.py": """\
                import inspect

                from incr import pipeline, step
                from pipelines.mark import mark


                @step
                def n_shards() -> int:
                    return 2


                @step
                def shard() -> int:
                    mark("shard")
                    return 1


                N = inspect.unwrap(n_shards)()


                @pipeline
                def sharded():
                    for _ in range(N):
                        shard()
                """
        }
    )
    project.repro()
    assert sorted(project.lock()) == ["sharded.shard", "sharded.shard_2"]

    project.edit("pipelines/sharded.py", "return 2", "return 3")
    assert project.dirty() == {"shard_3": [("new step", "")]}


def test_networkx_asks_the_projects_memory_for_its_backends(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """networkx reads entry points for its backends as it loads; a command that needs it (here:
    to name the steps of a cycle) answers those lookups from .pipecache/entrypoints.json
    (seen here through a backend-info entry point that networkx loads and calls, only listed
    there). Commands are started with exec: the fork servers have networkx loaded already."""
    monkeypatch.setenv(forkserver.ALWAYS_EXEC, "1")
    project = make_project(
        {
            "pipelines/chain.py": PIPELINE,
            "pipelines/helpers.py": HELPERS,
            "fakeinfo.py": """\
                def info():
                    with open("backend-info-called.txt", "w", encoding="utf-8") as fh:
                        fh.write("yes")
                    return {"backend_name": "incrfake", "project": "incrfake"}
                """,
        }
    )
    project.repro()
    memory = project.root / ".pipecache" / "entrypoints.json"
    saved = json.loads(memory.read_text(encoding="utf-8"))
    assert saved["every group"] is True
    saved["groups"]["networkx.backend_info"] = [["incrfake", "fakeinfo:info"]]
    memory.write_text(json.dumps(saved), encoding="utf-8")

    project.edit("pipelines/chain.py", "@step\ndef first", '@step(deps=["b.txt"])\ndef first')
    project.edit("pipelines/chain.py", "@step\ndef second", '@step(outs=["b.txt"])\ndef second')
    failed = project.incr("repro")

    assert failed.returncode != 0 and "has a cycle" in failed.output
    assert project.read("backend-info-called.txt") == "yes"


ENUM_CONFIG = """\
    import enum

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Pooling(str, enum.Enum):
        MEAN = "mean"
        MAX = "max"


    class PoolConfig(StepConfig):
        pooling: Pooling = Pooling.MEAN
        size: tuple = (3, 3)


    @step(outs=["pooled.txt"])
    def pool(config: PoolConfig) -> None:
        mark("pool")
        kind = type(config.pooling).__name__, type(config.size).__name__
        with open("pooled.txt", "w", encoding="utf-8") as fh:
            fh.write(f"{config.pooling.value} {kind} v1")


    @pipeline
    def pools():
        pool(config=PoolConfig(pooling=Pooling.MAX))
    """


def test_a_step_run_from_the_saved_graphs_gets_its_config_as_made(make_project) -> None:
    """The saved graph holds a ``str`` Enum member as its string: the step must still get the
    member (and a tuple as a tuple), as on a run that traces."""
    project = make_project({"pipelines/pools.py": ENUM_CONFIG})
    project.repro()
    assert project.take_ran() == ["pool"]
    project.edit("pipelines/pools.py", "v1", "v2")  # a body edit: the saved graphs are run

    project.repro()

    assert project.take_ran() == ["pool"]
    assert project.read("pooled.txt") == "max ('Pooling', 'tuple') v2"


CLOCKED = """\
    import time

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Partition(StepConfig):
        stamp: int = 0


    @step
    def ingest(config: Partition) -> int:
        mark("ingest")
        return config.stamp


    @pipeline
    def daily():
        ingest(config=Partition(stamp=time.time_ns()))  # say, str(date.today())
    """


#: The same, the clock read in a function of the module that the body calls.
CLOCKED_HELPER = CLOCKED.replace(
    "    @pipeline\n", "    def partition():\n        return time.time_ns()\n\n\n    @pipeline\n"
).replace("stamp=time.time_ns()", "stamp=partition()")


@pytest.mark.parametrize(
    ("text", "call"),
    [(CLOCKED, "time.time_ns() (line 19)"), (CLOCKED_HELPER, "time.time_ns() (line 18)")],
    ids=["body", "helper"],
)
def test_a_pipeline_wired_from_the_clock_is_traced_on_every_command(
    make_project, text: str, call: str
) -> None:
    """Saved graphs, or a kept status answer, would freeze the first value: none is kept."""
    project = make_project({"pipelines/daily.py": text})
    project.repro()
    assert project.take_ran() == ["ingest"]
    cache = project.root / ".pipecache"
    assert not (cache / "graph.bin").exists()
    assert f"pipelines/daily.py: {call}" in (cache / "graph.volatile").read_text()

    for _ in range(2):  # the second status would be the kept answer
        assert [r[0] for r in project.dirty()["ingest"]] == ["config changed"]
    project.repro()
    assert project.take_ran() == ["ingest"]

    wired = project.read("pipelines/daily.py").replace("time.time_ns()", "1")  # the same
    (project.root / "pipelines" / "daily.py").write_text(wired)
    project.repro()
    assert project.take_ran() == ["ingest"]
    assert (cache / "graph.bin").exists() and not (cache / "graph.volatile").exists()
    assert project.dirty() == {}


MANIFEST = """\
    import pandas as pd

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Part(StepConfig):
        name: str = ""


    @step
    def proc(config: Part) -> str:
        mark("proc")
        return config.name.upper()


    @step
    def combine(parts: list) -> list:
        mark("combine")
        return sorted(parts)


    @pipeline
    def parts():
        names = pd.read_parquet("data/manifest.parquet")["name"].tolist()
        combine([proc(config=Part(name=n), name=f"proc_{n}") for n in names])
    """


def test_a_file_a_reader_in_c_opens_while_wiring_keys_the_saved_graphs(make_project) -> None:
    import pandas as pd

    project = make_project({"pipelines/parts.py": MANIFEST})
    (project.root / "data").mkdir()
    pd.DataFrame({"name": ["a", "b"]}).to_parquet(project.root / "data/manifest.parquet")
    project.repro()
    assert project.take_ran() == ["proc", "proc", "combine"]
    assert project.dirty() == {}

    pd.DataFrame({"name": ["a", "b", "c"]}).to_parquet(project.root / "data/manifest.parquet")
    assert project.dirty()["proc_c"] == [("new step", "")]
    project.repro()
    assert project.take_ran() == ["proc", "combine"]


#: The pipeline wires a step of its own when an optional module can be imported.
OPTIONAL = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    try:
        import fancylib
    except ImportError:
        fancylib = None


    @step
    def plain() -> int:
        mark("plain")
        return 1


    @step
    def fancy(x: int) -> int:
        mark("fancy")
        return x + 1


    @pipeline
    def flow():
        x = plain()
        if fancylib is not None:
            fancy(x)
    """


def test_a_module_imported_only_if_found_keys_the_saved_graphs(make_project) -> None:
    """Installing the optional module, or removing it, wires the pipeline again."""
    project = make_project({"pipelines/flow.py": OPTIONAL})
    project.repro()
    assert project.take_ran() == ["plain"]
    assert project.dirty() == {}

    (project.root / "fancylib.py").write_text("")  # found from now on
    assert set(project.dirty()) == {"fancy"}
    project.repro()
    assert project.take_ran() == ["fancy"]

    (project.root / "fancylib.py").unlink()
    assert project.dirty() == {}
    project.repro()  # the graph without fancy: its entry goes
    assert project.take_ran() == []
    lock = project.read("pipeline.lock")
    assert "flow.fancy" not in lock and "flow.plain" in lock
