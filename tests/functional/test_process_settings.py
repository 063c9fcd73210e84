"""A step that changes a library's process-wide setting (``csv.register_dialect``,
``pl.Config.set_float_precision``, ``decimal.getcontext().prec = 4``...): the steps run after
it in the same process see the setting, so it counts as a value the step sets as it runs
(a ``sets:process-wide:...`` key): it executes on every run while a step runs after it."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

STEPS = """\
import csv
import decimal

import numpy as np
from incr import pipeline, step

from pipelines.mark import mark


def use_semicolons():
    csv.register_dialect("semi", delimiter=";")


@step
def setup_env() -> int:
    mark("setup_env")
    use_semicolons()
    np.set_printoptions(precision=2)
    decimal.getcontext().prec = 4
    return 1


@step
def compute(token: int) -> str:
    mark("compute")
    with open("data/x.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f, dialect="semi"))
    return f"v1 {rows} {np.array([1 / 3])} {decimal.Decimal(1) / decimal.Decimal(7)}"


@pipeline
def p():
    compute(setup_env())
"""


def test_a_step_changing_process_wide_settings_executes_while_a_step_runs_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """An edit of ``compute`` alone: before, ``setup_env`` was reused and ``compute`` ran
    without its settings (an unknown dialect, other digits than a run from scratch)."""
    project = make_project({"pipelines/p.py": STEPS, "data/x.csv": "a;b\n1;2\n"})
    project.repro()
    assert project.take_ran() == ["setup_env", "compute"]
    reads = project.lock()["p.setup_env"].reads
    assert {
        "sets:process-wide:csv.register_dialect()",
        "sets:process-wide:numpy.set_printoptions()",
        "sets:process-wide:decimal.getcontext()",
    } <= set(reads)
    dirty = project.dirty()
    assert [kind for kind, _ in dirty["setup_env"]] == ["sets values as it runs"]
    assert "process-wide csv.register_dialect()" in dirty["setup_env"][0][1]

    project.edit("pipelines/p.py", 'f"v1 ', 'f"v2 ')
    project.repro()
    assert project.take_ran() == ["setup_env", "compute"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.repro()
    assert project.take_ran() == ["setup_env"]  # compute is reused


SCOPED = """\
import warnings

from incr import pipeline, step

from pipelines.mark import mark


@step
def quiet() -> int:
    mark("quiet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.warn("old")
    return 1


@step
def last(n: int) -> int:
    mark("last")
    warnings.simplefilter("ignore")  # the last step: no step runs after it
    return n + 1


@pipeline
def p():
    last(quiet())
"""


def test_settings_put_back_or_made_by_the_last_step_change_nothing(
    make_project: MakeProject,
) -> None:
    """Warning filters set in ``warnings.catch_warnings()`` are put back as the block ends;
    a setting the last step makes reaches no step: both steps are reused."""
    project = make_project({"pipelines/p.py": SCOPED})
    project.repro()
    assert project.take_ran() == ["quiet", "last"]
    assert not any(k.startswith("sets:") for k in project.lock()["p.quiet"].reads)
    project.repro()
    assert project.take_ran() == []


QUIETED = """\
import logging
import warnings

from incr import pipeline, step

from pipelines.mark import mark


@step
def setup() -> int:
    mark("setup")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.INFO)
    return 1


@step
def train(n: int) -> int:
    mark("train")
    warnings.warn("old")
    return n + 1


@pipeline
def p():
    train(setup())
"""


def test_a_step_silencing_warnings_or_setting_up_logging_is_reused(
    make_project: MakeProject,
) -> None:
    """Warning filters and logging set-up change what the steps after it print or log, not
    what they compute: the step is no setter, and a no-op repro runs nothing (it has a note)."""
    project = make_project({"pipelines/p.py": QUIETED})
    project.repro()
    assert project.take_ran() == ["setup", "train"]
    status = project.incr("status").stdout
    assert "warnings.filterwarnings() in pipelines/p.py:setup changes a library's" in status
    assert not any(k.startswith("sets:") for k in project.lock()["p.setup"].reads)
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


CONFIGURED = """\
import numpy as np
from incr import StepConfig, pipeline, step

from pipelines.mark import mark


class PrintConfig(StepConfig):
    precision: int = 2


@step
def setp(config: PrintConfig) -> None:
    mark("setp")
    np.set_printoptions(precision=config.precision)


@step
def other() -> int:
    return 1


@step
def show(n: int) -> str:
    mark("show")
    return str(np.array([n / 3]))


@pipeline
def p():
    setp(config=PrintConfig(precision=2))
    show(other())
"""


def test_a_change_of_what_a_step_sets_reruns_the_steps_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``show`` runs after ``setp`` and sees the precision it sets: it counts ``setp``'s
    fingerprint. Before, a change of the precision reran ``setp`` alone, and ``show`` kept
    ``[0.33]`` where a run from scratch gives ``[0.33333]``; a revert puts it back."""
    project = make_project({"pipelines/p.py": CONFIGURED})
    project.repro()
    assert project.take_ran() == ["setp", "show"]
    first = project.lock()["p.show"].outputs
    project.repro()
    assert project.take_ran() == ["setp"]  # show is reused
    project.edit("pipelines/p.py", "PrintConfig(precision=2)", "PrintConfig(precision=5)")
    [(kind, after)] = project.dirty()["show"]
    assert kind == "after" and "setp" in after
    project.repro()
    assert project.take_ran() == ["setp", "show"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.edit("pipelines/p.py", "PrintConfig(precision=5)", "PrintConfig(precision=2)")
    project.repro()
    assert project.take_ran() == ["setp"]  # show is put back from the cache
    assert project.lock()["p.show"].outputs == first


def test_a_setting_a_step_no_longer_makes_does_not_count_for_the_steps_after_it(
    make_project: MakeProject,
) -> None:
    """``setup_env`` stops registering the dialect: after the repro, ``compute`` waits after
    it as before, for the settings it still makes. Before, its lock entry's old setting still
    counted for ``compute`` in that run, and status said ``code changed (value of
    csv.register_dialect() in process-wide)`` right after."""
    project = make_project({"pipelines/p.py": STEPS, "data/x.csv": "a,b\n1,2\n"})
    project.repro()
    assert project.take_ran() == ["setup_env", "compute"]
    project.edit("pipelines/p.py", "    use_semicolons()\n", "")
    project.edit("pipelines/p.py", 'dialect="semi"', 'dialect="excel"')
    project.repro()
    assert project.take_ran() == ["setup_env", "compute"]
    assert project.dirty()["compute"] == [("after", "setup_env")]
