"""incr repro --executor dask / --scheduler: dirty steps run on a Dask cluster, decided and
recorded by the client exactly as a serial run would.

One ``LocalCluster`` (two worker processes, one thread each, on 127.0.0.1) serves the tests of
this module, which stay in one xdist group so that two clusters never compete for the cores.
The ``incr`` under test runs in a subprocess and connects to it with ``--scheduler``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import FLOW_FILES, FLOW_ORDER, PYPROJECT, MakeProject, Project
from .test_jobs_serial import notes_project, serial_lock

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.xdist_group("dask")
# A variable the client and the workers share, set before any cluster starts.
os.environ.setdefault("INCRPFX_SHARED", "both")

#: Steps that say which process ran them: ``name:pid`` lines in ran.txt.
PID_MARK = '''\
"""Test support: every step appends its name and process id to ran.txt."""

import os


def mark(name):
    with open("ran.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{name}:{os.getpid()}\\n")
'''


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, set[int]]]:
    """A LocalCluster of two single-threaded worker processes: (address, worker pids)."""
    import dask

    environment = dict(os.environ)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            resources={"SLOT": 1},
            env={"PYTHONDONTWRITEBYTECODE": "1"},
        )
    client = distributed.Client(local)
    try:
        yield local.scheduler_address, set(client.run(os.getpid).values())
    finally:
        client.close()
        local.close()
        # Each worker process a nanny starts sets its variables (PYTHONHASHSEED, OMP_NUM_THREADS
        # and others) in this process's own environment, where every later command of this test
        # process would inherit them (and with them one hash seed for all).
        for name in set(os.environ) - set(environment):
            del os.environ[name]
        os.environ.update(environment)


def on_cluster(
    project: Project,
    address: str,
    *args: str,
    merged: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``incr repro`` on the cluster; ``merged`` puts stderr into stdout, in order; ``env``:
    variables the client has (the workers do not)."""
    return subprocess.run(
        [sys.executable, "-m", "incr.cli", "repro", "--scheduler", address, *args],
        cwd=project.root,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )


def ran(project: Project) -> list[tuple[str, int]]:
    return [(n.split(":")[0], int(n.split(":")[1])) for n in project.take_ran()]


def test_same_lockfile_as_serial_each_step_once_in_a_worker(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    address, workers = cluster
    files = {**FLOW_FILES, "pipelines/mark.py": PID_MARK}
    remote = make_project(files, where="dask")
    serial = make_project(files, where="serial")

    done = on_cluster(remote, address)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = ran(remote)
    assert sorted(name for name, _ in steps) == sorted(FLOW_ORDER)  # each exactly once
    assert {pid for _, pid in steps} <= workers  # never in the client
    serial.repro()
    serial.take_ran()
    assert remote.lock_bytes() == serial.lock_bytes()
    assert remote.dirty() == {}

    # Early cutoff: double reruns and returns the same list; shift and total are not submitted.
    for project in (remote, serial):
        project.edit("pipelines/flow.py", "v * config.factor", "config.factor * v")
    done = on_cluster(remote, address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [name for name, _ in ran(remote)] == ["double"]
    serial.repro()
    assert remote.lock_bytes() == serial.lock_bytes()

    # The workers imported the old module: they import it again, and run the new code.
    for project in (remote, serial):
        project.edit("pipelines/flow.py", "SHIFT = 10", "SHIFT = 11")
    done = on_cluster(remote, address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [name for name, _ in ran(remote)] == ["shift", "total"]
    serial.repro()
    assert remote.lock_bytes() == serial.lock_bytes()
    assert remote.dirty() == {}


def test_a_reader_that_read_a_file_before_its_writer_finished_runs_again(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    address, _ = cluster
    project = notes_project(make_project, "dask")

    done = on_cluster(project, address)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    ran = project.take_ran()
    assert ran[-1] == "use_notes:new" and ran.count("write_notes") == 1
    assert "read too early (data/notes.txt, written by write_notes)" in output
    assert project.lock_bytes() == serial_lock(project, "serial")


FAILING = """\
from incr import pipeline, step
from pipelines.mark import mark


@step
def fine() -> int:
    mark("fine")
    return 1


@step
def broken(x: int) -> int:
    mark("broken")
    raise ValueError(f"cannot use {x}")


@step
def after(x: int) -> int:
    mark("after")
    return x


@step(resources={"GPU": 1})
def wants_gpu() -> int:
    mark("wants_gpu")
    return 3


@step(resources={"SLOT": 1})
def wants_slot() -> int:
    mark("wants_slot")
    return 4


@pipeline
def failing():
    after(broken(fine()))
    wants_gpu()
    wants_slot()
"""


def test_failures_resources_and_skips(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    address, _ = cluster
    project = make_project({"pipelines/failing.py": FAILING, "pipelines/mark.py": PID_MARK})

    done = on_cluster(project, address, "--keep-going", merged=True)
    output = done.stdout
    assert done.returncode == 1, output
    # The worker's traceback, from the step's own frame, as a local run shows it.
    assert 'failing.py", line 14, in broken' in output, output
    assert "ValueError: cannot use 1" in output
    assert "Skipped after: " in output  # below the failed step, as in a local run
    assert "step failing.wants_gpu needs resources GPU=1, which no worker" in output
    # Said before any step starts, not only when the step's turn comes.
    warned = output.index("warning: step failing.wants_gpu needs resources GPU=1")
    assert warned < output.index(" has started."), output
    assert "SLOT=1" in output  # what the workers do offer
    assert sorted(name for name, _ in ran(project)) == ["broken", "fine", "wants_slot"]
    assert set(project.lock()) == {"failing.fine", "failing.wants_slot"}


CRASHING = """\
import os
import signal

from incr import pipeline, step
from pipelines.mark import mark


@step
def crash_once() -> int:
    mark("crash_once")
    if not os.path.exists("crashed"):
        open("crashed", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return 1


@step
def always_crash() -> int:
    mark("always_crash")
    os.kill(os.getpid(), signal.SIGKILL)


@pipeline
def crashing():
    crash_once()
    always_crash()
"""


def test_a_killed_worker_retries_the_step_once(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    address, _ = cluster
    project = make_project({"pipelines/crashing.py": CRASHING, "pipelines/mark.py": PID_MARK})
    (project.root / "crashed").unlink(missing_ok=True)

    done = on_cluster(project, address, "crash_once")
    assert done.returncode == 0, done.stdout + done.stderr
    first, second = ran(project)  # killed, then run again (a new worker process)
    assert first[0] == second[0] == "crash_once" and first[1] != second[1]
    assert set(project.lock()) == {"crashing.crash_once"}

    done = on_cluster(project, address, "always_crash")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert [name for name, _ in ran(project)] == ["always_crash"] * 2  # then reported
    assert "the Dask worker running step crashing.always_crash died, twice" in output
    assert "Traceback" not in output
    assert set(project.lock()) == {"crashing.crash_once"}


def test_missing_extra_and_unknown_executor(make_project: MakeProject) -> None:
    project = make_project({"pipelines/failing.py": FAILING})
    blocked = "import sys; sys.modules['distributed'] = None; from incr.cli import main; main()"
    result = project.python("-c", blocked, "repro", "--executor", "dask")
    assert result.user_error().startswith("error: the dask executor needs the `distributed`")
    assert "pip install 'incr[dask]'" in result.stderr

    project.write({"pyproject.toml": '[tool.incr]\nexecutor = "spark"\n'})
    assert "unknown executor 'spark'" in project.incr("repro").user_error()


SLOW = """\
import time

from incr import pipeline, step
from pipelines.mark import mark


@step
def quick() -> int:
    mark("quick")
    return 1


@step
def slow() -> int:
    mark("slow")
    time.sleep(60)
    return 2


@pipeline
def slowly():
    quick()
    slow()
"""


def test_ctrl_c_keeps_finished_steps_and_stops_the_local_cluster(
    make_project: MakeProject,
) -> None:
    """``[tool.incr] executor = "dask"``: incr starts its own LocalCluster (two workers)."""
    project = make_project({"pipelines/slowly.py": SLOW, "pipelines/mark.py": PID_MARK})
    project.write({"pyproject.toml": '[tool.incr]\nexecutor = "dask"\n'})
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "incr.cli", "repro"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _has_both(project.root / "ran.txt") or not project.lockfile.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "interrupted: every step that finished is kept in the lockfile" in err
    assert set(project.lock()) == {"slowly.quick"}
    slow_pid = next(pid for name, pid in ran(project) if name == "slow")
    _gone(slow_pid)  # the cluster incr started is stopped, the running step with it


def _has_both(path: Path) -> bool:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return "quick:" in text and "slow:" in text


def _gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"worker {pid} still runs")


def test_scheduler_and_workers_in_their_own_folders_through_a_folder_remote(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``dask scheduler`` and two ``dask worker`` processes, each worker with its own copy of
    the project (``INCR_WORKER_ROOT``) and its own cache (``INCR_WORKER_CACHE``): no access
    to the project's ``.pipecache``. Data moves through a folder remote only."""
    remote = tmp_path / "remote"
    table = f'[tool.incr.remote]\nurl = "{remote}"\n'
    files = {**FLOW_FILES, "pipelines/written.py": WRITTEN, "pyproject.toml": table}
    client = make_project(files, where="client")
    serial = make_project(files, where="serial")
    left = {"out/parts/9.txt": "left by an earlier run on the worker"}  # not in the result
    copies = [make_project({**files, **left}, where=f"worker{i}") for i in (1, 2)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        address = _start_scheduler(tmp_path / "scheduler.json", processes)
        for copy in copies:
            _start_worker(address, copy.root, processes)
        _wait_for_workers(address, 2)

        done = on_cluster(client, address)
        assert done.returncode == 0, done.stdout + done.stderr
        assert client.take_ran() == []  # nothing ran in the client's folder
        ran_on = [copy.take_ran() for copy in copies]
        assert sorted(ran_on[0] + ran_on[1]) == sorted([*FLOW_ORDER, "write"])  # each once
        serial.repro()
        assert client.lock_bytes() == serial.lock_bytes()
        assert "warning: out/parts in the checkout of worker (pid " in done.stderr
        assert not (client.root / "out/parts/9.txt").exists()
        for out in ("out/total.txt", "out/parts/1.txt", "out/parts/3.txt"):  # put back here
            assert client.read(out) == serial.read(out)
        for copy in copies:
            assert not (copy.root / ".pipecache").exists()
        assert sum((copy.root / "out/parts/9.txt").exists() for copy in copies) == 1  # moved
        outputs = [a.digest for e in client.lock().values() for a in e.outputs.values()]
        assert all((remote / "objects" / d[:2] / d[2:]).is_file() for d in outputs)
        assert client.dirty() == {}

        # A worker whose copy of a helper differs refuses the step, naming the helper.
        for copy in copies:
            copy.edit("pipelines/helpers.py", "return value * factor", "return factor * value")
        done = on_cluster(client, address, "--force", "flow.scaled")
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "refused step flow.scaled: its code differs from the client's: " in output
        assert "scale in pipelines/helpers.py" in output
        assert [copy.take_ran() for copy in copies] == [[], []]
    finally:
        for proc in reversed(processes):
            _stop(proc)


#: A step that writes an outs file and folder (on a worker with its own checkout, the client
#: puts them back in the project from the remote).
WRITTEN = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/raw.csv"], outs=["out/total.txt", "out/parts"])
    def write() -> None:
        mark("write")
        with open("data/raw.csv", encoding="utf-8") as fh:
            values = [int(line) for line in fh if line.strip()]
        os.makedirs("out/parts", exist_ok=True)
        with open("out/total.txt", "w", encoding="utf-8") as fh:
            fh.write(str(sum(values)))
        for value in values:
            with open(f"out/parts/{value}.txt", "w", encoding="utf-8") as fh:
                fh.write(str(value) * 10)


    @pipeline
    def written():
        write()
    """


def _start_scheduler(file: Path, processes: list[subprocess.Popen[bytes]]) -> str:
    command = ["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    processes.append(_spawn([*command, "--scheduler-file", str(file)], file.parent))
    deadline = time.monotonic() + 60
    while not file.exists():
        assert processes[-1].poll() is None, "dask scheduler exited"
        assert time.monotonic() < deadline, "dask scheduler did not start"
        time.sleep(0.1)
    import json

    for _ in range(50):
        try:
            return str(json.loads(file.read_text(encoding="utf-8"))["address"])
        except ValueError:  # being written
            time.sleep(0.1)
    raise AssertionError("no scheduler address")


def _start_worker(address: str, root: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    folder = root.parent / f"{root.name}-folder"
    folder.mkdir()
    command = ["dask", "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
    command += ["--host", "127.0.0.1", "--local-directory", str(folder / "scratch")]
    env = {"INCR_WORKER_ROOT": str(root), "INCR_WORKER_CACHE": str(folder / "cache")}
    processes.append(_spawn(command, folder, env))


def _spawn(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Any:
    environ = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    bindir = Path(sys.executable).parent  # the dask command of this Python
    command = [str(bindir / command[0]), *command[1:]]
    return subprocess.Popen(
        command, cwd=cwd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_for_workers(address: str, count: int) -> None:
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(count, timeout=60)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop one process we started, by its id: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


WORKER_IMPORTS = {
    "params.json": '{"k": 2}',
    "pipelines/p.py": """\
        import json

        from incr import pipeline, step

        PARAMS = json.load(open("params.json"))  # relative to the project root


        @step
        def compute() -> str:
            return f"v1 {10 * PARAMS['k']}"


        @pipeline
        def p():
            compute()
        """,
    "pipelines/q.py": """\
        import os

        if not os.environ.get("ON_CLIENT") and os.path.exists("fail-on-workers"):
            raise ImportError("this module fails on the workers")
        """,
}


def test_workers_import_the_project_from_its_root_and_anew_after_a_failure(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    """A module that opens a file by a relative path imports on a worker as it does for
    ``incr`` (from the project root, whatever the worker's folder); an import that failed on
    a worker leaves nothing behind, so a later order runs the code as it is then."""
    address, _ = cluster
    project = make_project(WORKER_IMPORTS, where="imports")
    (project.root / "fail-on-workers").write_text("", encoding="utf-8")

    failed = on_cluster(project, address, env={"ON_CLIENT": "1"})
    assert failed.returncode != 0 and "fails on the workers" in failed.stderr, failed.stderr
    (project.root / "fail-on-workers").unlink()
    project.edit("pipelines/p.py", 'f"v1 ', 'f"v2 ')
    done = on_cluster(project, address, env={"ON_CLIENT": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    serial = make_project(WORKER_IMPORTS, where="imports-serial")
    serial.edit("pipelines/p.py", 'f"v1 ', 'f"v2 ')
    serial.repro()
    assert project.lock()["p.compute"].outputs == serial.lock()["p.compute"].outputs


def test_a_variable_the_worker_has_otherwise_than_the_client_fails_the_step(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    """The lockfile records the client's value of a variable a step reads: a worker that has
    another one refuses the result, naming the variable, rather than record it as clean."""
    address, _ = cluster
    project = make_project(
        {
            "pipelines/p.py": """\
                import os

                from incr import pipeline, step


                @step
                def seen() -> str:
                    return os.environ.get("INCR_TEST_MODE", "unset")


                @pipeline
                def p():
                    seen()
                """
        },
        where="environ",
    )
    result = on_cluster(project, address, env={"INCR_TEST_MODE": "prod"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "step p.seen read $INCR_TEST_MODE on worker" in result.stderr
    assert "p.seen" not in project.lock()
    same = on_cluster(project, address)  # no value here or there: the same
    assert same.returncode == 0, same.stdout + same.stderr


def test_a_prefix_of_variables_a_library_copied_is_checked_on_the_worker(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    """pydantic-settings copies the environment on the worker: the step counts by its
    field's variable in any case (``$INCRPFX_SHARED*``), which the worker finds as the
    client does (both have INCRPFX_SHARED), until the client alone has another spelling of
    it; another variable of the prefix is no field's, and changes nothing."""
    pytest.importorskip("pydantic_settings")
    address, _ = cluster
    project = make_project(
        {
            "pipelines/p.py": """\
                from pydantic_settings import BaseSettings, SettingsConfigDict

                from incr import pipeline, step


                class Settings(BaseSettings):
                    model_config = SettingsConfigDict(env_prefix="INCRPFX_")
                    shared: str = "none"


                @step
                def configured() -> str:
                    return Settings().shared


                @pipeline
                def p():
                    configured()
                """
        },
        where="prefixed",
    )
    same = on_cluster(project, address)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "$INCRPFX_SHARED*" in project.lock()["p.configured"].reads
    unrelated = on_cluster(project, address, env={"INCRPFX_OTHER": "client"})
    assert unrelated.returncode == 0, unrelated.stdout + unrelated.stderr
    other = on_cluster(project, address, env={"incrpfx_shared": "client"})
    assert other.returncode == 1, other.stdout + other.stderr
    assert "step p.configured read $INCRPFX_SHARED* on worker" in other.stderr


def test_a_step_reads_the_run_history_in_a_worker(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    """``StepContext.metadata_store`` opens the project's run history in a worker too."""
    history = """\
        from incr import StepContext, pipeline, step


        @step
        def a() -> int:
            return 3


        @step(outs=["result.txt"])
        def b(x: int, context: StepContext) -> None:
            found = context.metadata_store.get_pipeline("p")
            with open("result.txt", "w") as fh:
                fh.write(f"{x} runs={len(found.runs) if found else 0}")


        @pipeline
        def p():
            b(a())
        """
    remote = make_project({"pipelines/p.py": history}, where="dask")
    serial = make_project({"pipelines/p.py": history}, where="serial")
    done = on_cluster(remote, cluster[0])
    assert done.returncode == 0, done.stdout + done.stderr
    serial.repro()
    assert remote.read("result.txt") == serial.read("result.txt") == "3 runs=0"


SETTINGS_PROJECT = {
    "pyproject.toml": PYPROJECT + '\n[tool.incr]\npipelines = "flows"\nscripts = ["run.py"]\n',
    "flows/__init__.py": "",
    "flows/train.py": """\
        from incr import StepConfig, pipeline, step


        class Scale(StepConfig):
            factor: int = 1


        @step
        def load() -> list:
            return [1, 2, 3]


        @step
        def scale(xs: list, config: Scale) -> list:
            return [x * config.factor for x in xs]


        @pipeline
        def training(load, scale):
            scale(load())
        """,
    "run.py": """\
        from flows.train import Scale, load, scale, training

        if __name__ == "__main__":
            training(load=load(), scale=scale(config=Scale(factor=3))).run()
        """,
}


def test_workers_read_the_projects_settings(
    cluster: tuple[str, set[int]], make_project: MakeProject
) -> None:
    """A worker finds the pipelines where ``[tool.incr]`` says (another folder, and a script
    that makes the instance with its config), as the client does: it used to look for
    ``pipelines/`` alone and refuse every step."""
    address, _ = cluster
    project = make_project(SETTINGS_PROJECT, where="settings")
    done = on_cluster(project, address)
    assert done.returncode == 0, done.stdout + done.stderr
    serial = make_project(SETTINGS_PROJECT, where="settings-serial")
    serial.repro()
    assert project.lock_bytes() == serial.lock_bytes()
    assert project.lock()["training.scale"].outputs == serial.lock()["training.scale"].outputs
    assert project.dirty() == {}
