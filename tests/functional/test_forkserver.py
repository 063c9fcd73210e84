"""The fork server that starts most ``incr`` commands of this suite gives them what a command
started with exec has: the same output and exit status, a hash seed of their own, a ``__main__``
that is ``incr/cli.py``, the environment of the call, and nothing loaded that a command started
with exec would not load first. Commands that Python would start differently are started with
exec (see ``forkserver.py``)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from . import forkserver
from .conftest import FLOW_FILES, FLOW_ORDER, MakeProject, Project

pytestmark = pytest.mark.skipif(
    os.environ.get(forkserver.ALWAYS_EXEC) == "1",
    reason=f"{forkserver.ALWAYS_EXEC}=1 starts every command with exec: no fork server to test",
)

#: A step that writes what its process looks like, one fact per line.
PROBE = {
    "pipelines/probe.py": """\
        import json
        import os
        import sys

        from incr import pipeline, step


        @step
        def look() -> int:
            main = sys.modules["__main__"]
            facts = {
                "hash": hash("incr"),
                "pid": os.getpid(),
                "main": getattr(main, "__file__", None),
                "argv": sys.argv,
                "orig_argv": sys.orig_argv,
                "path0": sys.path[0],
                "cwd": os.getcwd(),
                "probe_variable": os.environ.get("PROBE_VARIABLE"),
                "cli_module": "incr.cli" in sys.modules,
                "sys_path": sys.path,
                "loaded": sorted(sys.modules),
            }
            with open("facts.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(facts) + "\\n")
            return 1


        @pipeline
        def probe():
            look()
        """,
}


def facts(project: Project) -> list[dict]:
    lines = (project.root / "facts.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def probe(make_project: MakeProject) -> Project:
    return make_project(PROBE)


def test_a_forked_command_looks_like_one_started_with_exec(
    probe: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe.repro()  # the first run traces the pipeline; the two below are alike
    (probe.root / "facts.jsonl").unlink()
    monkeypatch.setenv("PROBE_VARIABLE", "forked")
    probe.repro("--force")
    monkeypatch.setenv(forkserver.ALWAYS_EXEC, "1")
    monkeypatch.setenv("PROBE_VARIABLE", "exec")
    probe.repro("--force")

    forked, started = facts(probe)
    cli = cli_file()
    for seen, variable in ((forked, "forked"), (started, "exec")):
        assert seen["main"] == cli
        assert seen["orig_argv"] == [sys.executable, "-m", "incr.cli", "repro", "--force"]
        assert seen["argv"] == [str(probe.root / "pipelines" / "probe.py")]  # as incr gives it
        assert seen["path0"] == seen["cwd"] == str(probe.root)
        assert seen["probe_variable"] == variable
        assert seen["pid"] != os.getpid()
    assert forked["cli_module"] is started["cli_module"] is False
    # A fork has loaded no more of incr or click than a command started with exec, but for the
    # engine modules and networkx, which the servers load on purpose (see forkserver.py).
    assert ours(started["loaded"]) <= ours(forked["loaded"])
    assert ours(forked["loaded"]) - ours(started["loaded"]) <= engine_modules()
    assert "networkx" in forked["loaded"]


@pytest.mark.skipif("PYTHONHASHSEED" in os.environ, reason="PYTHONHASHSEED is set")
def test_commands_in_a_row_have_hash_seeds_of_their_own(probe: Project) -> None:
    for _ in range(4):
        probe.repro("--force")

    seen = facts(probe)
    assert len({fact["pid"] for fact in seen}) == 4
    # Each server has its own seed and commands alternate: no two in a row share one.
    assert all(a["hash"] != b["hash"] for a, b in itertools.pairwise(seen))


def test_output_exit_status_and_lockfile_match_exec(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = [["repro"], ["status", "--json"], ["status", "nope"], ["repro", "--bogus"]]
    forked_project = make_project(FLOW_FILES, where="forked")
    forked = [forked_project.incr(*command) for command in commands]
    monkeypatch.setenv(forkserver.ALWAYS_EXEC, "1")
    exec_project = make_project(FLOW_FILES, where="exec")
    started = [exec_project.incr(*command) for command in commands]

    assert [r.returncode for r in forked] == [r.returncode for r in started] == [0, 0, 2, 2]
    assert forked_project.take_ran() == exec_project.take_ran() == FLOW_ORDER
    assert forked_project.lock_bytes() == exec_project.lock_bytes()
    for a, b in zip(forked[1:], started[1:], strict=True):
        assert (a.stdout, a.stderr) == (b.stdout, b.stderr)


def test_what_python_reads_at_start_sends_a_command_to_exec(
    probe: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")

    cli = [sys.executable, "-m", "incr.cli"]
    assert not forkserver.servers().serves(cli, env, False, probe.root)
    probe.repro("--force")
    assert str(tmp_path) in facts(probe)[0]["sys_path"]  # a fresh Python read PYTHONPATH


def test_a_project_module_named_like_a_standard_one_sends_its_commands_to_exec(
    probe: Project,
) -> None:
    """The servers have networkx loaded: in a project whose module takes a standard module's
    name, networkx's own imports would find that module in a fresh command, not in a fork."""
    cli = [sys.executable, "-m", "incr.cli"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    servers = forkserver.servers()
    (probe.root / "data").mkdir()
    assert servers.serves(cli, env, False, probe.root / "data")
    (probe.root / "logging.py").write_text("")
    assert not servers.serves(cli, env, False, probe.root)
    assert not servers.serves(cli, env, False, probe.root / "data")  # the root is above


def engine_modules() -> set[str]:
    """incr's modules that the servers' ``ENGINE`` loads, as a fresh Python lists them."""
    code = f"import sys, {', '.join(forkserver.ENGINE)}; print(' '.join(sys.modules))"
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    return ours(listed.stdout.decode().split())


def ours(modules: list[str]) -> set[str]:
    return {name for name in modules if name.partition(".")[0] in {"incr", "click"}}


def cli_file() -> str:
    import incr

    return str(Path(incr.__file__).with_name("cli.py"))


def test_a_project_importing_a_slow_library_is_served_with_it_loaded(
    make_project: MakeProject,
) -> None:
    """The servers of a project that imports numpy have it loaded; a module of the project that
    takes its name sends the project's commands to exec, where a fresh Python imports that
    module instead."""
    project = make_project({**PROBE, "pipelines/arrays.py": "import numpy as np\n"})
    cli = [sys.executable, "-m", "incr.cli"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    servers = forkserver.servers()
    project.repro()
    assert "numpy" in facts(project)[-1]["loaded"]
    assert servers.serves(cli, env, False, project.root)

    (project.root / "numpy.py").write_text("", encoding="utf-8")
    assert not servers.serves(cli, env, False, project.root)
    project.repro("--force")
    loaded = facts(project)[-1]["loaded"]
    assert "numpy" in loaded  # the project's numpy.py, the real one's modules not loaded:
    assert not [name for name in loaded if name.startswith("numpy.")]


def test_projects_without_slow_libraries_get_servers_without_them(probe: Project) -> None:
    probe.repro()
    assert not {"numpy", "pandas", "sklearn"} & set(facts(probe)[-1]["loaded"])


SCRIPT = """\
import json
import sys

import __main__

facts = {
    "path0": sys.path[0],
    "argv": sys.argv,
    "orig_argv": sys.orig_argv[1:],
    "file": __main__.__file__,
    "spec": __main__.__spec__,
    "cached": __main__.__cached__,
    "package": __main__.__package__,
    "loader": type(__main__.__loader__).__name__,
    "names": sorted(vars(__main__)),
    "incr": "incr" in sys.modules,
    "code": sys._getframe().f_code.co_filename,
}
print(json.dumps(facts))
how = sys.argv[1] if len(sys.argv) > 1 else ""
if how == "error":
    raise ValueError("the script failed")
if how == "exit":
    sys.exit("leaving with a message")
if how == "interrupt":
    import atexit

    atexit.register(print, "atexit ran")
    raise KeyboardInterrupt
if how == "ending":
    import atexit
    import threading
    import time

    atexit.register(print, "atexit ran")

    def late():
        time.sleep(0.2)
        print("thread ended")

    threading.Thread(target=late).start()
    sys.exit(3)
"""


def test_a_forked_script_runs_as_python_runs_it(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python FILE.py ARGS`` forked or started with exec: the same ``__main__``, ``sys.path``
    and ``sys.argv``, the same output, traceback and exit status on an error, a ``sys.exit``
    or an interrupt, and the same end: threads waited for, then ``atexit`` handlers."""
    project = make_project({"scripts/facts.py": SCRIPT})
    cli = [sys.executable, "scripts/facts.py"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    assert forkserver.servers().serves(cli, env, False, project.root)
    hows = ["", "error", "exit", "interrupt", "ending"]
    forked = [project.python("scripts/facts.py", how) for how in hows]
    monkeypatch.setenv(forkserver.ALWAYS_EXEC, "1")
    started = [project.python("scripts/facts.py", how) for how in hows]

    assert [r.returncode for r in forked] == [r.returncode for r in started] == [0, 1, 1, -2, 3]
    for a, b in zip(forked, started, strict=True):
        assert (a.stdout, a.stderr) == (b.stdout, b.stderr)
    facts = json.loads(forked[0].stdout)
    assert facts["path0"] == str((project.root / "scripts").resolve())
    assert facts["file"] == facts["code"] == str(project.root / "scripts" / "facts.py")
    assert facts["incr"] is False
    assert (
        'facts.py", line' in forked[1].stderr
        and "ValueError: the script failed" in forked[1].stderr
    )
    assert forked[3].stdout.endswith("atexit ran\n")
    assert forked[4].stdout.endswith("thread ended\natexit ran\n")
