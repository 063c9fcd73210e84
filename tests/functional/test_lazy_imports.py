"""Start-up loads only what the command uses: ``import incr`` no API module, ``from incr import
step, pipeline`` no output format's library, a no-op ``incr status`` or ``incr repro`` (the
graph cache is up to date) no API, discovery, Dask, multiprocessing or remote-cache module, and
nothing that records reads; a no-op repro no materializer and nothing that runs a step. Each
is asked of a fresh Python, which lists what it loaded."""

from __future__ import annotations

import pytest

from .conftest import Project

LOADED = "import sys; print(' '.join(sorted(sys.modules)))"


def loaded(project: Project, code: str) -> set[str]:
    result = project.python("-c", f"{code}\n{LOADED}")
    assert result.returncode == 0, result.output
    return set(result.stdout.splitlines()[-1].split())


def test_import_incr_loads_no_api_yet_every_name_is_there(flow: Project) -> None:
    assert not loaded(flow, "import incr") & {"incr.api", "incr.materializers", "incr.tracing"}

    names = "step, pipeline, Output, StepConfig, BaseStepConfig, PipelineInstance, StepContext"
    code = f"from incr import {names}, Materializer, register_materializer, BaseStep, status"
    assert "incr.api" in loaded(flow, code)


def test_a_script_in_a_project_loads_the_api_before_the_project_leads_sys_path(
    flow: Project,
) -> None:
    flow.write({"scripts/probe.py": "import sys\nimport incr\nprint('incr.api' in sys.modules)\n"})
    result = flow.python("scripts/probe.py")

    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["True"]


def test_the_decorators_load_no_format_notebook_or_clock(flow: Project) -> None:
    modules = loaded(flow, "from incr import step, pipeline")

    assert "incr.api" in modules
    assert not modules & {"pickle", "datetime", "incr.notebook", "incr.coderef", "incr.runner"}


def test_the_run_engine_and_past_runs_hold_however_the_api_is_loaded(flow: Project) -> None:
    script = (
        "from incr.api import PipelineInstance\n"
        "from incr import hooks\n"
        "from pipelines.flow import flow\n"
        "instance = flow()\n"
        "print(hooks.engine is not None, len(instance.get_runs()))\n"
    )
    result = flow.python("-c", script)

    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["True", "1"]


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        (
            ["status"],
            {"incr.api", "incr.discovery", "incr.events", "incr.tracing", "pickle"}
            | {"incr.captures", "incr.creaders", "incr.notebook", "incr.objectcode"}
            | {"incr.codeast", "incr.codeindex", "incr.keptsources"}
            | {"incr.importreads", "incr.reads", "incr.processes", "importlib.abc"},
        ),
        (
            ["repro"],
            {"incr.api", "incr.discovery", "incr.daskexec", "incr.pool", "incr.remote"}
            | {"multiprocessing", "logging", "subprocess"}
            | {"incr.jobrun", "incr.materializers", "incr.reads", "incr.globalvalues"}
            | {"incr.scriptmain", "importlib.abc"},
        ),
    ],
)
def test_a_no_op_command_loads_what_it_uses_only(
    flow: Project, command: list[str], absent: set[str]
) -> None:
    code = f"from incr.cli import cli\ncli({command!r}, standalone_mode=False)"

    assert loaded(flow, code) & absent == set()
    assert flow.take_ran() == []


REPRO = "from incr.cli import cli\ncli(['repro'], standalone_mode=False)"


def test_a_repro_after_a_body_edit_takes_the_run_order_it_knows(flow: Project) -> None:
    """The run order of a graph of a shape seen before comes from the graph cache; a new
    shape is ordered again, without networkx."""
    flow.edit("pipelines/flow.py", "[v * config.factor for", "[config.factor * v for")

    assert "networkx" not in loaded(flow, REPRO)
    assert flow.take_ran() == ["double"]

    flow.edit(
        "pipelines/flow.py",
        "total(shift(doubled), scaled(values))",
        "total(shift(doubled), shift(values))",
    )
    assert "networkx" not in loaded(flow, REPRO)
    assert flow.take_ran() == ["shift", "total"]
    assert sorted(flow.lock()) == [
        f"flow.{n}" for n in ["double", "load", "shift", "shift_2", "total"]
    ]


@pytest.mark.parametrize(("command", "option"), [("status", "--json"), ("repro", "-v")])
def test_the_command_alone_loads_no_click(flow: Project, command: str, option: str) -> None:
    """``incr status`` and ``incr repro`` given alone run without click; with an option they
    go through click, and both say the same."""
    code = (
        f"import sys\nsys.argv = ['incr', {command!r}]\nfrom incr.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"  # click's way to end
    )
    modules = loaded(flow, code)

    assert not modules & {"click", "incr.clickcli", "incr.clitexts", "incr.remotehelp"}
    assert "incr.clirun" in modules
    assert "click" in loaded(flow, code.replace(f"{command!r}]", f"{command!r}, {option!r}]"))
    alone = flow.incr(command)
    through_click = flow.incr("-C", str(flow.root), command)
    assert alone.returncode == through_click.returncode == 0
    untimed = [line for line in alone.stdout.splitlines() if not line.startswith("Pipeline run")]
    assert untimed == [
        line for line in through_click.stdout.splitlines() if not line.startswith("Pipeline run")
    ]
