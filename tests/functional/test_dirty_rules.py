"""Which edits make which steps dirty, why, and what ``repro`` then executes.

Every test starts from the standard project of conftest.py, already brought up to date:
load -> double -> shift -> total, and load -> scaled -> total.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from .conftest import MakeProject, Project

FLOW = "pipelines/flow.py"
HELPERS = "pipelines/helpers.py"


# --------------------------------------------------------------------------- edits that keep clean


def comment_edit(project: Project) -> None:
    project.edit(FLOW, 'mark("double")\n', 'mark("double")  # a remark\n    # a whole-line note\n')
    project.edit(FLOW, "SHIFT = 10\n", "# the offset\nSHIFT = 10  # ten\n")


def docstring_edit(project: Project) -> None:
    project.edit(FLOW, '"""Read the numbers."""', '"""Read the numbers, one per line."""')
    project.edit(
        FLOW,
        "def shift(values: list) -> list:\n",
        'def shift(values: list) -> list:\n    """Add SHIFT to each value."""\n',
    )
    project.edit(HELPERS, "def scale(value, factor):\n", 'def scale(value, factor):\n    """x"""\n')


def reformat_edit(project: Project) -> None:
    project.edit(
        FLOW,
        "def total(left: list, right: list) -> int:",
        "def total(\n    left: list,\n    right: list,\n) -> int:",
    )
    project.edit(
        FLOW,
        "return [v * config.factor for v in values]",
        "return [\n        v * config.factor\n        for v in values\n    ]",
    )
    project.edit(FLOW, "SHIFT = 10", "SHIFT = (\n    10\n)")


def reorder_edit(project: Project) -> None:
    text = project.read(FLOW)
    helper = "def add_shift(values):\n    return [v + SHIFT for v in values]\n\n\n"
    shift = (
        "@step\ndef shift(values: list) -> list:\n"
        '    mark("shift")\n    return add_shift(values)\n\n\n'
    )
    scaled = (
        "@step\ndef scaled(values: list) -> list:\n"
        '    mark("scaled")\n    return [scale(v, 3) for v in values]\n\n\n'
    )
    for block in (helper, shift, scaled):
        assert text.count(block) == 1, block
    text = text.replace(helper, "").replace(shift + scaled, scaled + shift)
    text = text.replace("@pipeline\n", helper + "@pipeline\n")
    (project.root / FLOW).write_text(text, encoding="utf-8")


def unused_helper_edit(project: Project) -> None:
    project.edit(FLOW, "return list(values)", "return sorted(values)")
    project.edit(HELPERS, "return value - 1", "return value - 2")


def unused_constant_edit(project: Project) -> None:
    project.edit(FLOW, "UNUSED_CONSTANT = 3", "UNUSED_CONSTANT = 4")
    project.edit(HELPERS, "OTHER_UNUSED = 7", "OTHER_UNUSED = 8")


def touch_dep(project: Project) -> None:
    path = project.root / "data/raw.csv"
    before = path.stat()
    later = before.st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))
    assert path.stat().st_mtime_ns != before.st_mtime_ns


def rewrite_dep_same_bytes(project: Project) -> None:
    path = project.root / "data/raw.csv"
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)  # a new inode and mtime, the same content


CLEAN_EDITS: dict[str, Callable[[Project], None]] = {
    "comment": comment_edit,
    "docstring": docstring_edit,
    "reformat": reformat_edit,
    "reorder": reorder_edit,
    "unused-helper": unused_helper_edit,
    "unused-constant": unused_constant_edit,
    "touch-dep": touch_dep,
    "rewrite-dep-same-bytes": rewrite_dep_same_bytes,
}


@pytest.mark.parametrize("edit", CLEAN_EDITS.values(), ids=CLEAN_EDITS.keys())
def test_edit_keeps_every_step_clean(flow: Project, edit: Callable[[Project], None]) -> None:
    lock_before = flow.lock_bytes()

    edit(flow)

    assert flow.dirty() == {}
    check = flow.incr("status", "--check")
    assert check.returncode == 0, check.output
    result = flow.repro()
    assert flow.take_ran() == []
    assert "5 steps reused from the cache" in result.stdout
    assert flow.lock_bytes() == lock_before


# --------------------------------------------------------------------------- edits that dirty


def test_step_logic_edit(flow: Project) -> None:
    flow.edit(FLOW, "v * config.factor for", "v * config.factor + 1 for")

    assert flow.dirty() == {
        "double": [("code changed", "double in pipelines/flow.py")],
        "shift": [("after", "double")],
        "total": [("after", "shift")],
    }
    flow.repro()
    assert flow.take_ran() == ["double", "shift", "total"]
    assert flow.dirty() == {}


def test_status_json_marks_waiting_steps(flow: Project) -> None:
    flow.edit(FLOW, "v * config.factor for", "v * config.factor + 1 for")

    steps = {s["step"]: s for s in flow.status()["steps"]}

    assert [s["pipeline"] for s in steps.values()] == ["flow"] * 5
    assert (steps["double"]["dirty"], steps["double"]["waiting"]) == (True, False)
    assert (steps["shift"]["dirty"], steps["shift"]["waiting"]) == (True, True)
    assert (steps["load"]["dirty"], steps["load"]["waiting"]) == (False, False)
    assert steps["double"]["reasons"] == [
        {
            "kind": "code changed",
            "detail": "double in pipelines/flow.py",
            "text": "code changed (double in pipelines/flow.py)",
            "stale": True,
        }
    ]
    assert steps["shift"]["reasons"][0]["text"] == "after double"


def test_status_text_names_the_change(flow: Project) -> None:
    flow.edit(FLOW, "v * config.factor for", "v * config.factor + 1 for")

    result = flow.incr("status")

    assert result.returncode == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["double", "dirty:", "code", "changed", "(double", "in", "pipelines/flow.py)"] in lines
    assert ["load", "clean"] in lines
    assert result.stdout.splitlines()[-1] == "3 of 5 steps dirty"


def test_helper_edit_in_same_module(flow: Project) -> None:
    flow.edit(FLOW, "return [v + SHIFT for v in values]", "return [v + SHIFT + 1 for v in values]")

    assert flow.dirty() == {
        "shift": [("code changed", "add_shift in pipelines/flow.py")],
        "total": [("after", "shift")],
    }
    flow.repro()
    assert flow.take_ran() == ["shift", "total"]
    assert flow.dirty() == {}


def test_helper_edit_in_other_module(flow: Project) -> None:
    flow.edit(HELPERS, "return value * factor", "return value * factor * 2")

    assert flow.dirty() == {
        "scaled": [("code changed", "scale in pipelines/helpers.py")],
        "total": [("after", "scaled")],
    }
    flow.repro()
    assert flow.take_ran() == ["scaled", "total"]
    assert flow.dirty() == {}


def test_constant_edit(flow: Project) -> None:
    flow.edit(FLOW, "SHIFT = 10", "SHIFT = 20")

    assert flow.dirty() == {
        "shift": [("code changed", "SHIFT in pipelines/flow.py")],
        "total": [("after", "shift")],
    }
    flow.repro()
    assert flow.take_ran() == ["shift", "total"]
    assert flow.lock()["flow.shift"].facts.code["pipelines/flow.py:SHIFT"]


def test_config_edit(flow: Project) -> None:
    flow.edit(FLOW, "DoubleConfig(factor=2)", "DoubleConfig(factor=5)")

    assert flow.dirty() == {
        "double": [("config changed", "factor: 2 -> 5")],
        "shift": [("after", "double")],
        "total": [("after", "shift")],
    }
    flow.repro()
    assert flow.take_ran() == ["double", "shift", "total"]
    assert flow.lock()["flow.double"].facts.config == {"factor": 5}


def test_config_default_edit_when_value_comes_from_default(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/p.py": """\
                from incr import StepConfig, pipeline, step
                from pipelines.mark import mark


                class Config(StepConfig):
                    factor: int = 2


                @step
                def work(config: Config) -> int:
                    mark("work")
                    return config.factor


                @pipeline
                def p():
                    work()
                """
        }
    )
    project.repro()
    assert project.take_ran() == ["work"]

    project.edit("pipelines/p.py", "factor: int = 2", "factor: int = 3")

    # The class's source changed too; what matters is that the value change is named.
    assert ("config changed", "factor: 2 -> 3") in project.dirty()["work"]
    project.repro()
    assert project.take_ran() == ["work"]


def test_dep_content_edit(flow: Project) -> None:
    (flow.root / "data/raw.csv").write_text("1\n2\n4\n", encoding="utf-8")

    assert flow.dirty() == {
        "load": [("dep changed", "data/raw.csv")],
        "double": [("after", "load")],
        "shift": [("after", "double")],
        "scaled": [("after", "load")],
        "total": [("after", "scaled, shift")],
    }
    flow.repro()
    assert flow.take_ran() == ["load", "double", "shift", "scaled", "total"]
    assert flow.dirty() == {}


def test_early_cutoff_identical_output_stops_downstream(flow: Project) -> None:
    # Different code, same result: [v * 2] == [2 * v].
    flow.edit(FLOW, "v * config.factor for", "config.factor * v for")
    assert flow.dirty() == {
        "double": [("code changed", "double in pipelines/flow.py")],
        "shift": [("after", "double")],
        "total": [("after", "shift")],
    }

    result = flow.repro("-v")

    assert flow.take_ran() == ["double"]
    assert "Using cached version of shift." in result.stdout
    assert "Using cached version of total." in result.stdout
    assert flow.dirty() == {}


def test_early_cutoff_through_a_dep_edit(flow: Project) -> None:
    # A blank line more: load's output (the parsed numbers) is the same.
    (flow.root / "data/raw.csv").write_text("1\n2\n3\n\n", encoding="utf-8")

    flow.repro()

    assert flow.take_ran() == ["load"]
    assert flow.dirty() == {}


def test_revert_restores_without_executing(flow: Project) -> None:
    original = flow.lock_bytes()
    flow.edit(FLOW, "v * config.factor for", "v * config.factor + 1 for")
    flow.repro()
    assert flow.take_ran() == ["double", "shift", "total"]
    assert flow.lock_bytes() != original

    flow.edit(FLOW, "v * config.factor + 1 for", "v * config.factor for")
    assert set(flow.dirty()) == {"double", "shift", "total"}
    flow.repro()

    assert flow.take_ran() == []
    assert flow.lock_bytes() == original
    assert flow.dirty() == {}


def test_revert_of_config_restores_without_executing(flow: Project) -> None:
    original = flow.lock_bytes()
    flow.edit(FLOW, "DoubleConfig(factor=2)", "DoubleConfig(factor=5)")
    flow.repro()
    assert flow.take_ran() == ["double", "shift", "total"]

    flow.edit(FLOW, "DoubleConfig(factor=5)", "DoubleConfig(factor=2)")
    flow.repro()

    assert flow.take_ran() == []
    assert flow.lock_bytes() == original


def test_new_step_is_dirty_and_runs_alone(flow: Project) -> None:
    flow.edit(
        FLOW,
        "@pipeline\n",
        '@step\ndef extra(values: list) -> int:\n    mark("extra")\n    return len(values)\n\n\n'
        "@pipeline\n",
    )
    flow.edit(FLOW, "    values = load()\n", "    values = load()\n    extra(values)\n")

    assert flow.dirty() == {"extra": [("new step", "")]}
    flow.repro()
    assert flow.take_ran() == ["extra"]
    assert "flow.extra" in flow.lock()


def test_removed_step_leaves_the_lockfile(flow: Project) -> None:
    flow.edit(FLOW, "    total(shift(doubled), scaled(values))\n", "    shift(doubled)\n")

    flow.repro()

    assert flow.take_ran() == []
    assert sorted(flow.lock()) == ["flow.double", "flow.load", "flow.shift"]


CHAINED_HELPERS = {
    "pipelines/deep.py": """\
        def inner(x):
            return x * 2


        def spare(x):
            return x
        """,
    "pipelines/middle.py": """\
        from pipelines.deep import inner


        def outer(x):
            return inner(x) + 1
        """,
    "pipelines/uses.py": """\
        import pipelines.middle as mid
        from incr import pipeline, step
        from pipelines.mark import mark

        from .deep import spare


        @step
        def by_alias() -> int:
            mark("by_alias")
            return mid.outer(1)


        @step
        def by_relative() -> int:
            mark("by_relative")
            return spare(5)


        @pipeline
        def uses():
            by_alias()
            by_relative()
        """,
}


def test_helpers_through_module_alias_relative_import_and_two_hops(
    make_project: MakeProject,
) -> None:
    project = make_project(CHAINED_HELPERS)
    project.repro()
    assert project.take_ran() == ["by_alias", "by_relative"]

    project.edit("pipelines/deep.py", "return x * 2", "return x * 3")
    assert project.dirty() == {"by_alias": [("code changed", "inner in pipelines/deep.py")]}
    project.repro()
    assert project.take_ran() == ["by_alias"]

    project.edit("pipelines/deep.py", "    return x\n", "    return x + 1\n")
    assert project.dirty() == {"by_relative": [("code changed", "spare in pipelines/deep.py")]}
    project.repro()
    assert project.take_ran() == ["by_relative"]


#: ``total`` declares the folder data/parts; one partition is a link to a folder outside it.
LINKED_PARTITION = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/parts"], track_reads=False)
    def total() -> int:
        mark("total")
        found = 0
        for folder, dirs, files in os.walk("data/parts", followlinks=True):
            dirs[:] = [d for d in dirs if d not in ("up", "same")]  # links made to test loops
            for name in files:
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    found += int(fh.read())
        return found


    @pipeline
    def linked():
        total()
    """


def test_a_folder_linked_into_a_deps_folder_counts_by_what_it_holds(
    make_project: MakeProject,
) -> None:
    """A partition kept elsewhere and linked in (data/parts/p2 -> ../../archive/p2) is part of
    the folder's digest through what it holds, not only through where the link leads; a link
    back into the folder itself, or round in circles, does not make the walk loop."""
    project = make_project(
        {
            "pipelines/linked.py": LINKED_PARTITION,
            "data/parts/p1/a.txt": "1",
            "archive/p2/b.txt": "10",
        }
    )
    os.symlink("../../archive/p2", project.root / "data/parts/p2")
    os.symlink("..", project.root / "archive/p2/up")  # round in circles, through the link
    os.symlink("p1", project.root / "data/parts/same")  # into the folder walked
    project.repro()
    assert project.take_ran() == ["total"]
    assert project.dirty() == {}

    (project.root / "archive/p2/b.txt").write_text("1000")
    assert project.dirty() == {"total": [("dep changed", "data/parts")]}
    (project.root / "archive/p2/c.txt").write_text("5")
    project.repro()
    assert project.take_ran() == ["total"]
    assert project.dirty() == {}
