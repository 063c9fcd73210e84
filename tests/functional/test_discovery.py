"""Discovery: what the CLI collects from pipelines/, and what importing a module may not do."""

from __future__ import annotations

import os
import textwrap

from .conftest import MakeProject, Project

STEPS = textwrap.dedent(
    """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def first() -> int:
        mark("first")
        return 1


    @step
    def second(x: int) -> int:
        mark("second")
        return x + 1


    @pipeline
    def chain(step_1, step_2):
        step_2(step_1())


    """
)


def pipelines_listed(project: Project) -> dict[str, list[str]]:
    listed: dict[str, list[str]] = {}
    for s in project.status()["steps"]:
        listed.setdefault(s["pipeline"], []).append(s["step"])
    return listed


def test_unguarded_run_call_is_recorded_not_executed(make_project: MakeProject) -> None:
    source = STEPS + "instance = chain(step_1=first(), step_2=second())\ninstance.run()\n"
    project = make_project({"pipelines/chain.py": source})

    assert pipelines_listed(project) == {"chain": ["first", "second"]}
    assert project.take_ran() == []
    project.repro()
    assert project.take_ran() == ["first", "second"]  # once each, by repro


def test_anonymous_instance_run_at_import_is_collected(make_project: MakeProject) -> None:
    source = STEPS + "chain(step_1=first(), step_2=second()).run()\n"
    project = make_project({"pipelines/chain.py": source})

    project.repro()

    assert project.take_ran() == ["first", "second"]
    assert sorted(project.lock()) == ["chain.first", "chain.second"]


def test_collects_instances_and_pipelines_without_parameters(make_project: MakeProject) -> None:
    source = (
        STEPS
        + "@pipeline\ndef simple():\n    second(first())\n\n\n"
        + "@pipeline(name='renamed')\ndef other():\n    first()\n"
    )
    project = make_project({"pipelines/chain.py": source})

    # `chain` takes steps and has no instance: nothing to run.
    assert pipelines_listed(project) == {"simple": ["first", "second"], "renamed": ["first"]}


def test_tool_incr_table_moves_pipelines_lockfile_and_cache(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pyproject.toml": """\
                [project]
                name = "demo"

                [tool.incr]
                pipelines = "flows"
                cache = "build/cache"
                lockfile = "flows.lock"
                """,
            "flows/__init__.py": "",
            "flows/main.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark


                @step
                def only() -> int:
                    mark("only")
                    return 1


                @pipeline
                def main():
                    only()
                """,
        }
    )

    project.repro()

    assert project.take_ran() == ["only"]
    assert (project.root / "flows.lock").is_file()
    assert not project.lockfile.exists()
    assert (project.root / "build/cache").is_dir()
    assert not (project.root / ".pipecache").exists()
    assert pipelines_listed(project) == {"main": ["only"]}


def test_same_size_edit_in_the_same_second_runs_the_new_code(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/answer.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark


                @step
                def answer() -> int:
                    mark("answer=1")
                    return 1


                @pipeline
                def quiz():
                    answer()
                """
        }
    )
    project.bytecode = True  # as for a user: Python writes __pycache__/*.pyc
    project.repro()
    assert project.take_ran() == ["answer=1"]
    # incr compiles project modules from source, so no .pyc of them can be stale.
    assert not list((project.root / "pipelines").glob("__pycache__/answer*.pyc"))

    # An editor saving twice in one second, or `cp -p`/`rsync -a`/`tar` restoring a file,
    # gives a new text with the size and mtime second the .pyc was compiled from.
    path = project.root / "pipelines/answer.py"
    before = path.stat()
    project.edit(
        "pipelines/answer.py", 'mark("answer=1")\n    return 1', 'mark("answer=3")\n    return 3'
    )
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size

    assert project.dirty() == {"answer": [("code changed", "answer in pipelines/answer.py")]}
    project.repro()

    assert project.take_ran() == ["answer=3"]
