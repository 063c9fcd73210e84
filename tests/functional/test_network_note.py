"""A step that connects to an internet address as it runs (``urllib``, ``requests``, a
database server) gets what incr cannot see: ``incr status`` says so on the step, until it
sets ``cache_expires`` or turns its cache off (``net:`` keys, ``model.network_note``)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from .conftest import MakeProject, Project

FLOW = """\
import urllib.request

from incr import pipeline, step

from pipelines.mark import mark

URL = "http://{host}:{port}/data.txt"


@step{options}
def fetch() -> int:
    mark("fetch")
    with urllib.request.urlopen(URL, timeout=10) as answer:
        return len(answer.read())


@step
def local() -> int:
    mark("local")
    return 1


@pipeline
def flow():
    fetch()
    local()
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the standard library names it
        body = b"a,b\n1,2\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _notes(project: Project) -> dict[str, list[str]]:
    steps = project.status()["steps"]
    return {s["step"]: s["notes"] for s in steps if s["notes"]}


def test_a_step_that_connects_to_an_address_gets_a_note(
    make_project: MakeProject, port: int
) -> None:
    flow = FLOW.format(host="127.0.0.1", port=port, options="")
    project = make_project({"pipelines/flow.py": flow})
    project.repro()
    assert project.take_ran() == ["fetch", "local"]
    assert f"net:127.0.0.1:{port}" in project.lock()["flow.fetch"].reads
    assert not any(k.startswith("net:") for k in project.lock()["flow.local"].reads)
    assert _notes(project) == {
        "fetch": [
            f"connected to 127.0.0.1:{port} as it ran: incr cannot see what it got from there, "
            "so its result is reused until its code, config or inputs change; "
            'set cache_expires="1d" to run it again after a day, or enable_cache=False to '
            "run it each time"
        ]
    }
    assert project.dirty() == {}  # what the address gives is not seen: it never changes
    project.repro()
    assert project.take_ran() == []


def test_a_step_that_expires_gets_no_note(make_project: MakeProject, port: int) -> None:
    flow = FLOW.format(host="127.0.0.1", port=port, options='(cache_expires="1d")')
    project = make_project({"pipelines/flow.py": flow})
    project.repro()
    assert project.take_ran() == ["fetch", "local"]
    assert _notes(project) == {}


def test_an_address_is_named_by_the_name_it_was_resolved_from(
    make_project: MakeProject, port: int
) -> None:
    flow = FLOW.format(host="localhost", port=port, options="")
    project = make_project({"pipelines/flow.py": flow})
    project.repro()
    assert f"net:localhost:{port}" in project.lock()["flow.fetch"].reads
    [note] = _notes(project)["fetch"]
    assert note.startswith(f"connected to localhost:{port} as it ran")


def test_a_step_of_a_pipeline_whose_cache_is_off_gets_no_note(
    make_project: MakeProject, port: int
) -> None:
    """Its cache is off at the pipeline's level, or at the run's (a main block's
    ``.run(enable_cache=False)``): it runs each time, and the note would say otherwise."""
    flow = FLOW.format(host="127.0.0.1", port=port, options="")
    off = flow.replace("@pipeline\n", "@pipeline(enable_cache=False)\n")
    project = make_project({"pipelines/flow.py": off})
    project.repro()
    assert project.take_ran() == ["fetch", "local"]
    assert _notes(project) == {}
    run_off = flow + '\n\nif __name__ == "__main__":\n    flow().run(enable_cache=False)\n'
    project.write({"pipelines/flow.py": run_off})
    project.repro()
    assert project.take_ran() == ["fetch", "local"]
    assert _notes(project) == {}
