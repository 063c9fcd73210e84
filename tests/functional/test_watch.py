"""``incr watch`` driven for real: a subprocess watching a temporary project.

Each test edits files the way editors save them and asserts on which steps ran (each step
appends its name to ``ran.txt``). Output is read by a background thread into a queue; tests
wait for expected lines with generous timeouts, never on fixed sleeps alone, so they hold on a
loaded machine. The helpers live here (not in conftest.py) on purpose.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from blake3 import blake3

from incr import lockfile
from incr.model import LockEntry
from incr.project import Project
from incr.watch import Debouncer, RunCancelled, Watcher
from incr.watchset import Change, WatchSet

TIMEOUT = 30.0
IDLE = "waiting for changes"

FILES = {
    "pyproject.toml": '[project]\nname = "demo"\nversion = "0"\n',
    "pipelines/__init__.py": "",
    "pipelines/mark.py": """\
        def mark(name):
            with open("ran.txt", "a", encoding="utf-8") as fh:
                fh.write(name + "\\n")
        """,
    "pipelines/flow.py": """\
        import time

        from incr import pipeline, step
        from pipelines.mark import mark


        @step(deps=["data/raw.txt"])
        def load() -> str:
            mark("load")
            with open("data/raw.txt", encoding="utf-8") as fh:
                return fh.read()


        @step
        def transform(text: str) -> str:
            mark("transform")
            return text.upper()


        @step
        def report(text: str) -> int:
            mark("report")
            if text.startswith("SLOW"):  # "slow N" in data/raw.txt: report sleeps N seconds
                time.sleep(float(text.split()[1]))
            return len(text)


        @pipeline
        def flow():
            report(transform(load()))
        """,
    "data/raw.txt": "hello\n",
}


READS_EXTRA = """\
with open("extra/words.txt", encoding="utf-8") as fh:
        return text.upper() + fh.read()"""


class Watch:
    """A running ``incr watch``; ``expect`` consumes its output lines in order."""

    def __init__(self, root: Path, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # watch must cope with .pyc files itself
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "incr.cli", "watch", *args],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, *texts: str, timeout: float = TIMEOUT) -> str:
        """The next line containing one of ``texts``; fails with the output on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line with {texts} within {timeout}s; output:\n{self.output}")
            if line is None:
                self.lines.put(None)
                pytest.fail(f"incr watch exited before {texts}; output:\n{self.output}")
            self.seen.append(line)
            if any(text in line for text in texts):
                return line

    def settle(self, before: int, count: int) -> list[str]:
        """Wait until ``count`` steps ran since ``before`` and the watcher is idle again."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.expect(IDLE, timeout=max(0.1, deadline - time.monotonic()))
            new = ran(self.root)[before:]
            if len(new) >= count:
                return new

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=TIMEOUT)
        finally:
            while self.lines.get(timeout=TIMEOUT) is not None:
                pass

    @property
    def output(self) -> str:
        return "\n".join(self.seen)


def ran(root: Path) -> list[str]:
    path = root / "ran.txt"
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def wait_ran(root: Path, count: int) -> None:
    """Wait until ``ran.txt`` holds ``count`` names: the last step's body is executing."""
    deadline = time.monotonic() + TIMEOUT
    while len(ran(root)) < count:
        assert time.monotonic() < deadline, ran(root)
        time.sleep(0.02)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def replaced(root: Path, rel: str, old: str, new: str) -> str:
    text = (root / rel).read_text(encoding="utf-8")
    assert text.count(old) == 1, (old, text)
    return text.replace(old, new)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for rel, text in FILES.items():
        write(tmp_path, rel, text)
    return tmp_path


@pytest.fixture
def start(project: Path) -> Iterator[object]:
    """``start(*args)`` runs ``incr watch`` and waits until the first run is done."""
    started: list[Watch] = []

    def run(*args: str, first: tuple[str, ...] = ("load", "transform", "report")) -> Watch:
        watch = Watch(project, *args)
        started.append(watch)
        watch.expect("press Ctrl-C to stop")
        watch.expect(IDLE)
        assert ran(project) == list(first), watch.output
        return watch

    yield run
    for watch in started:
        if watch.proc.poll() is None:
            watch.proc.kill()
            watch.proc.wait()


# --------------------------------------------------------------------------- editor saves


def test_write_in_place_reruns_the_step_and_what_its_output_changes(project, start):
    watch = start()
    text = replaced(project, "pipelines/flow.py", "text.upper()", 'text.upper() + "!"')
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    assert watch.settle(3, 2) == ["transform", "report"]
    assert "changed: pipelines/flow.py" in watch.output


def test_write_temp_then_rename_and_backup_rename(project, start):
    watch = start()
    flow = project / "pipelines/flow.py"
    temp = project / "pipelines/.flow.py.tmp"  # VS Code, JetBrains: temp file, rename over
    temp.write_text(replaced(project, "pipelines/flow.py", "len(text)", "len(text) + 1"))
    os.replace(temp, flow)
    assert watch.settle(3, 1) == ["report"]
    text = replaced(project, "pipelines/flow.py", "len(text) + 1", "len(text) + 2")
    os.replace(flow, project / "pipelines/flow.py~")  # vim: original renamed to a backup
    flow.write_text(text, encoding="utf-8")
    (project / "pipelines/flow.py~").unlink()
    assert watch.settle(4, 1) == ["report"]


def test_delete_then_create(project, start):
    watch = start()
    text = replaced(project, "pipelines/flow.py", "text.upper()", "text.lower()")
    (project / "pipelines/flow.py").unlink()
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    assert watch.settle(3, 2) == ["transform", "report"]


def test_dep_deleted_is_an_error_and_recreated_later_reruns(project, start):
    watch = start()
    (project / "data/raw.txt").unlink()
    watch.expect("Step load has failed", "'data/raw.txt' does not exist")
    watch.expect(IDLE)
    before = len(ran(project))
    write(project, "data/raw.txt", "back again\n")
    assert watch.settle(before, 3) == ["load", "transform", "report"]


def test_dep_content_change_reruns_from_the_reading_step(project, start):
    watch = start()
    write(project, "data/raw.txt", "other words\n")
    assert watch.settle(3, 3) == ["load", "transform", "report"]
    assert "changed: data/raw.txt" in watch.output


# --------------------------------------------------------------------------- nothing to do


def test_comment_only_save_says_so_and_runs_nothing(project, start):
    watch = start()
    with open(project / "pipelines/flow.py", "a", encoding="utf-8") as fh:
        fh.write("# a comment changes nothing\n")
    watch.expect("no change that matters (pipelines/flow.py)")
    assert ran(project) == ["load", "transform", "report"]


def test_touch_and_same_bytes_of_a_dep_run_nothing(project, start):
    watch = start()
    os.utime(project / "data/raw.txt")
    watch.expect("no change that matters (data/raw.txt)")
    write(project, "data/raw.txt", "hello\n")
    watch.expect("no change that matters (data/raw.txt)")
    assert ran(project) == ["load", "transform", "report"]
    assert "Creating run" not in watch.output.split(IDLE, 1)[1]


def test_lockfile_cache_and_other_files_do_not_trigger(project, start):
    watch = start()
    lock = project / "pipeline.lock"
    lock.write_bytes(lock.read_bytes())
    write(project, ".pipecache/junk", "x")
    write(project, "pipelines/notes.txt", "not a module")
    write(project, "pipelines/__pycache__/junk.pyc", "x")
    write(project, "data/other.txt", "not a dep")
    write(project, "data/raw.txt", "one more\n")  # the next verdict must be about this file
    assert watch.expect("changed:", "no change") == "changed: data/raw.txt"


# --------------------------------------------------------------------------- errors, new files


def test_syntax_error_is_reported_and_the_fix_reruns(project, start):
    watch = start()
    good = replaced(project, "pipelines/flow.py", "text.upper()", "text.title()")
    bad = good.replace("def transform(text: str)", "def transform(text: str")
    (project / "pipelines/flow.py").write_text(bad, encoding="utf-8")
    assert "syntax error" in watch.expect("pipelines/flow.py:")
    watch.expect(IDLE)
    (project / "pipelines/flow.py").write_text(good, encoding="utf-8")
    assert watch.settle(3, 2) == ["transform", "report"]


def test_new_helper_module_and_new_dep_are_watched_after_the_run(project, start):
    watch = start()
    write(project, "lib/__init__.py", "")
    write(project, "lib/util.py", 'def suffix():\n    return "!"\n')
    write(project, "notes/extra.txt", "first\n")
    text = replaced(project, "pipelines/flow.py", "text.upper()", "text.upper() + suffix()")
    text = text.replace("@step\ndef report", '@step(deps=["notes/extra.txt"])\ndef report')
    text = text.replace("import time\n", "import time\n\nfrom lib.util import suffix\n")
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    assert watch.settle(3, 2) == ["transform", "report"]
    write(project, "lib/util.py", 'def suffix():\n    return "?"\n')
    assert watch.settle(5, 2) == ["transform", "report"]
    write(project, "notes/extra.txt", "second\n")
    assert watch.settle(7, 1) == ["report"]


def test_unknown_target_at_start_is_an_error_not_a_watch(project):
    proc = subprocess.run(
        [sys.executable, "-m", "incr.cli", "watch", "nosuch"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: unknown target 'nosuch'"), proc.stderr


def test_a_target_limits_what_runs_and_what_is_watched(project, start):
    watch = start("flow.transform", first=("load", "transform"))
    write(project, "data/raw.txt", "changed\n")
    assert watch.settle(2, 2) == ["load", "transform"]
    assert "Step report" not in watch.output


def test_a_file_a_step_was_seen_reading_is_watched(project, start):
    if "reads" not in LockEntry.__dataclass_fields__:
        pytest.skip("this incr does not record the files steps read")
    write(project, "extra/words.txt", "some\n")
    text = replaced(project, "pipelines/flow.py", "return text.upper()", READS_EXTRA)
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    watch = start()
    write(project, "extra/words.txt", "other\n")  # not in deps=[...]: found by running
    assert watch.settle(3, 2) == ["transform", "report"]


def test_a_file_read_outside_the_project_is_watched(project, start, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "words.txt"  # not under the project root
    outside.write_text("some\n", encoding="utf-8")
    reads = READS_EXTRA.replace('"extra/words.txt"', repr(str(outside)))
    text = replaced(project, "pipelines/flow.py", "return text.upper()", reads)
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    watch = start()
    outside.write_text("other\n", encoding="utf-8")
    assert watch.settle(3, 2) == ["transform", "report"]


def test_a_local_package_outside_the_project_is_watched_and_imported_again(
    project, start, tmp_path_factory, monkeypatch
):
    """A shared library on ``PYTHONPATH`` (code on this machine, not installed): saving it
    reruns the step that uses it, with its new code."""
    library = tmp_path_factory.mktemp("lib") / "common"
    library.mkdir()
    write(library, "__init__.py", "")
    write(library, "ops.py", "def shout(text):\n    return text.upper()\n")
    monkeypatch.setenv("PYTHONPATH", str(library.parent))
    text = replaced(project, "pipelines/flow.py", "return text.upper()", "return shout(text)")
    text = text.replace(
        "from pipelines.mark import mark",
        "from common.ops import shout\nfrom pipelines.mark import mark",
    )
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    watch = start()
    write(library, "ops.py", "def shout(text):\n    return text.upper() + '!'\n")
    assert watch.settle(3, 2) == ["transform", "report"]
    entry = lockfile.read(project / "pipeline.lock")["flow.report"]
    assert entry.outputs["output"].digest == blake3(b"7").hexdigest()  # "HELLO\n!": new code
    assert watch.stop(signal.SIGINT) == 0


def test_state_a_removed_line_set_in_a_library_is_gone_on_the_next_run(project, start):
    """Each run imports the project afresh in a process of its own: what a module set in a
    library when imported (``np.set_printoptions``, ``os.environ``) goes with the line."""
    text = replaced(project, "pipelines/flow.py", "return text.upper()", SHOWS_STATE)
    text = text.replace("import time\n", "import os\nimport time\n\nimport numpy as np\n", 1)
    text = text.replace("@step(deps", STATE_LINES + "\n\n@step(deps", 1)
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    watch = start()
    (project / "pipelines/flow.py").write_text(text.replace(STATE_LINES, ""), encoding="utf-8")
    assert watch.settle(3, 3) == ["load", "transform", "report"]  # the module's lines changed
    entry = lockfile.read(project / "pipeline.lock")["flow.transform"]
    shown = "hello\n[0.33333333]unset"
    assert entry.outputs["output"].digest == blake3(json.dumps(shown).encode()).hexdigest()
    assert watch.stop(signal.SIGINT) == 0


def test_what_a_library_reads_as_it_is_imported_counts_in_every_cycle(project, start):
    """scikit-learn reads ``SKLEARN_*`` variables as it is imported: in the first cycle's
    process only (the next ones start with it loaded). Before, the steps the next cycles ran
    were recorded without them, and the next ``incr repro``, whose import of the module read
    them, ran those steps again (``env changed (SKLEARN_ASSUME_FINITE, ...)``)."""
    pytest.importorskip("sklearn")
    text = replaced(project, "pipelines/flow.py", "return text.upper()", "return scale and text")
    text = text.replace("import time\n", "import time\n\nfrom sklearn.preprocessing import scale\n")
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    watch = start()
    write(project, "data/raw.txt", "bye\n")
    assert watch.settle(3, 3) == ["load", "transform", "report"]
    assert watch.stop(signal.SIGINT) == 0
    env = dict(os.environ, INCR_NO_GRAPH_CACHE="1")  # the modules imported in a new process
    status = subprocess.run(
        [sys.executable, "-m", "incr.cli", "status"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "all 3 steps clean" in status.stdout, status.stdout + status.stderr


STATE_LINES = 'np.set_printoptions(precision=2)\nos.environ["INCR_TEST_WATCH_MODE"] = "fast"'
SHOWS_STATE = (
    'return text + str(np.array([1 / 3])) + os.environ.get("INCR_TEST_WATCH_MODE", "unset")'
)


def test_a_tested_path_in_a_folder_made_later_is_seen_when_it_appears(project, start):
    text = replaced(
        project,
        "pipelines/flow.py",
        "return text.upper()",
        'return text.upper() + str(os.path.exists("conf/flags/extra"))',
    )
    text = text.replace("import time\n", "import os\nimport time\n", 1)
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    watch = start()
    write(project, "conf/flags/extra", "on\n")  # conf/ did not exist: made with the file
    assert watch.settle(3, 2) == ["transform", "report"]


def test_a_pool_a_step_terminates_ends_quietly(project, start):
    """A step's fork pool, ended with ``pool.terminate()``: its workers take SIGTERM as Python
    does, not as the watcher does (no traceback)."""
    text = replaced(project, "pipelines/flow.py", "return text.upper()", TERMINATES)
    text = text.replace("import time\n", "import multiprocessing\nimport time\n", 1)
    (project / "pipelines/flow.py").write_text(text, encoding="utf-8")
    watch = start()
    assert "Terminated" not in watch.output and "Traceback" not in watch.output, watch.output
    assert watch.stop(signal.SIGINT) == 0


TERMINATES = """pool = multiprocessing.get_context("fork").Pool(2)
    pool.map_async(time.sleep, [5, 5])
    time.sleep(0.5)
    pool.terminate()
    pool.join()
    return text.upper()"""


# --------------------------------------------------------------------------- runs in progress


def test_changes_during_a_run_make_one_follow_up_run(project, start):
    watch = start()
    write(project, "data/raw.txt", "slow 2\n")
    wait_ran(project, 6)  # report is sleeping
    write(project, "data/raw.txt", "first\n")
    time.sleep(0.3)  # two separate saves while report sleeps
    write(project, "data/raw.txt", "second\n")
    assert watch.settle(3, 6) == ["load", "transform", "report"] * 2
    assert watch.output.count("changed: data/raw.txt") == 2
    time.sleep(1.0)  # nothing else may follow
    assert watch.lines.empty(), watch.lines.get()


def test_restart_cancels_a_run_whose_inputs_changed(project, start):
    watch = start("--restart")
    write(project, "data/raw.txt", "slow 60\n")
    wait_ran(project, 6)  # report is sleeping
    began = time.monotonic()
    write(project, "data/raw.txt", "fast\n")
    watch.expect("restarting")
    assert watch.settle(3, 6) == ["load", "transform", "report"] * 2
    assert time.monotonic() - began < 30


def test_a_cancelled_runs_cleanup_is_not_cancelled_again(project: Path) -> None:
    """A save sends several change signals: the first cancels the run, those that come while
    the cancelled run folds its journal and writes its files must not cut that short (the
    watch then stopped on a RuntimeError from a half-started thread)."""
    watcher = Watcher(Project.find(project), restart=True)
    watcher.out = object()  # as in a cycle's child, which the signals reach
    interrupted = []
    with pytest.raises(RunCancelled), watcher._armed():
        try:
            watcher._on_usr1(signal.SIGUSR1, None)
        finally:  # the run's cleanup, when the next signal comes
            try:
                watcher._on_usr1(signal.SIGUSR1, None)
            except RunCancelled:
                interrupted.append("cleanup")
    assert interrupted == []
    with pytest.raises(RunCancelled), watcher._armed():  # the next run is cancelled as before
        pass


# --------------------------------------------------------------------------- stopping


def test_sigint_when_idle_exits_0(start):
    watch = start()
    assert watch.stop(signal.SIGINT) == 0


def test_sigint_during_a_run_exits_130(project, start):
    watch = start()
    write(project, "data/raw.txt", "slow 60\n")
    wait_ran(project, 6)  # report is sleeping
    assert watch.stop(signal.SIGINT) == 130


def test_sigterm_during_a_run_keeps_finished_steps_in_a_valid_lockfile(project, start):
    watch = start()
    before = lockfile.read(project / "pipeline.lock")
    write(project, "data/raw.txt", "slow 60\n")
    wait_ran(project, 6)  # report is sleeping
    assert watch.stop(signal.SIGTERM) == 0
    after = lockfile.read(project / "pipeline.lock")
    assert after["flow.load"].fingerprint != before["flow.load"].fingerprint
    assert after["flow.transform"].fingerprint != before["flow.transform"].fingerprint
    assert after["flow.report"].fingerprint == before["flow.report"].fingerprint


# --------------------------------------------------------------------------- pure parts


def test_watch_set_counts_saves_and_ignores_noise(tmp_path: Path):
    root = tmp_path
    watched = WatchSet(
        root,
        sources=frozenset({root / "pipelines"}),
        paths=frozenset({root / "data/raw.txt", root / "images"}),
        ignored=frozenset({root / ".pipecache", root / "pipeline.lock", root / "images/out"}),
    )

    def counts(kind: str, path: str, dest: str = "", is_dir: bool = False) -> bool:
        dest = str(root / dest) if dest else ""
        return bool(watched.affected(Change(kind, str(root / path), dest, is_dir)))

    assert counts("modified", "data/raw.txt")
    assert counts("moved", "data/.raw.txt.swp", "data/raw.txt")
    assert counts("created", "images/a/b.png")
    assert counts("created", "pipelines/sub/new.py")
    assert counts("deleted", "data", is_dir=True)
    assert not counts("opened", "data/raw.txt")
    assert not counts("closed_no_write", "data/raw.txt")
    assert not counts("modified", "data", is_dir=True)
    assert not counts("modified", "data/other.txt")
    assert not counts("modified", "images/out/b.png")
    assert not counts("modified", "pipelines/__pycache__/flow.cpython-311.pyc")
    assert not counts("modified", "pipelines/.flow.py.swp")
    assert not counts("moved", ".pipeline.lock.x.tmp", "pipeline.lock")
    assert not counts("modified", ".pipecache/objects/ab/cd")


def test_a_folder_made_above_a_tested_or_listed_path_counts(tmp_path: Path):
    """``os.path.exists("conf/flags/extra")`` or a glob of ``extra/batch1/*.txt`` before
    those folders exist: making ``conf`` or ``extra`` counts (the watcher saw no deeper)."""
    root = tmp_path
    watched = WatchSet(
        root,
        sources=frozenset({root / "pipelines"}),
        paths=frozenset(),
        ignored=frozenset({root / ".pipecache"}),
        listed=frozenset({root / "extra/batch1"}),
        tested=frozenset({root / "conf/flags/extra"}),
    )

    def counts(kind: str, path: str, is_dir: bool = True) -> bool:
        return bool(watched.affected(Change(kind, str(root / path), "", is_dir)))

    assert counts("created", "conf")
    assert counts("created", "conf/flags")
    assert counts("created", "extra")
    assert counts("deleted", "extra/batch1")
    assert not counts("modified", "conf")
    assert not counts("created", "other")


def test_debouncer_waits_for_quiet_and_caps_the_wait():
    now = [0.0]
    debouncer = Debouncer(0.2, clock=lambda: now[0], max_delay=1.0)
    assert debouncer.due_in(now[0]) is None
    debouncer.add(["a"])
    now[0] = 0.15
    debouncer.add(["b", "a"])
    assert debouncer.due_in(now[0]) == pytest.approx(0.2)
    now[0] = 0.35
    assert debouncer.wait() == ["a", "b"]
    for step in range(10):  # a file that never stops changing still runs after max_delay
        now[0] = 1.0 + step * 0.1
        debouncer.add(["c"])
    assert debouncer.due_in(now[0]) == pytest.approx(0.1)
