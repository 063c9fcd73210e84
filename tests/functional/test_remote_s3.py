"""The shared remote cache on S3: a moto server on 127.0.0.1 (one for the module), real s3fs
calls. Fresh clones, verification and repair, a push killed by SIGKILL, and one-line errors
for a missing bucket, an unreachable server and missing or refused credentials."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from blake3 import blake3

from .conftest import MakeProject, Project
from .remotes import STEPS, clone, commit, files_of, origin
from .scratch import outputs
from .servers import S3Server, _moto, free_port, s3_server

__all__ = ["s3_server"]


@pytest.fixture(scope="module")
def checking_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A second moto server that checks credentials (only IAM users it knows are let in)."""
    yield from _moto(tmp_path_factory.mktemp("moto-auth"), {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})


def s3_origin(make_project: MakeProject, s3: S3Server) -> tuple[Project, str]:
    bucket = s3.bucket()
    return origin(make_project, f"s3://{bucket}/team/cache", s3.options()), bucket


def remote_objects(s3: S3Server, bucket: str) -> dict[str, bytes]:
    fs = s3.fs()
    paths = fs.find(f"{bucket}/team/cache/objects")
    return {p.rsplit("/", 2)[-2] + p.rsplit("/", 1)[-1]: fs.cat(p) for p in paths}


def test_fresh_clone_pull_then_nothing_runs(make_project: MakeProject, s3_server: S3Server) -> None:
    project, bucket = s3_origin(make_project, s3_server)
    pushed = project.incr("push")
    assert pushed.returncode == 0, pushed.output
    assert f"to s3://{bucket}/team/cache" in pushed.stdout
    objects = remote_objects(s3_server, bucket)
    assert objects and all(blake3(v).hexdigest() == k for k, v in objects.items())
    fresh = clone(project, "fresh")
    pulled = fresh.incr("pull")
    assert pulled.returncode == 0, pulled.output
    fresh.repro()
    assert fresh.take_ran() == []
    assert files_of(fresh) == files_of(project) and outputs(fresh) == outputs(project)
    assert fresh.incr("status", "--check").returncode == 0
    other = clone(project, "other")  # no pull first: repro --pull fetches instead of running
    result = other.repro("--pull")
    assert other.take_ran() == []
    assert result.stdout.count("Using remote cached version of") == len(STEPS)
    assert "not on remote" not in project.incr("status", "--remote").stdout


def test_flipped_byte_refused_then_repaired(make_project: MakeProject, s3_server: S3Server) -> None:
    project, bucket = s3_origin(make_project, s3_server)
    project.incr("push")
    digest = project.lock()["flow.load"].outputs["output"].digest
    fs = s3_server.fs()
    path = f"{bucket}/team/cache/objects/{digest[:2]}/{digest[2:]}"
    data = bytearray(fs.cat(path))
    data[0] ^= 0x20
    fs.pipe(path, bytes(data))
    fresh = clone(project, "fresh")
    pulled = fresh.incr("pull")
    assert pulled.returncode == 1 and "Traceback" not in pulled.output
    refused = [line for line in pulled.stderr.splitlines() if "does not match" in line]
    assert len(refused) == 1 and digest in refused[0] and "flow.load" in refused[0]
    assert not (fresh.root / ".pipecache/objects" / digest[:2] / digest[2:]).exists()
    fresh.repro("--pull")
    assert fresh.take_ran() == ["load"]  # recomputed; the others came from the remote
    assert outputs(fresh) == outputs(project)
    assert project.incr("push", "--repair").returncode == 0
    assert blake3(fs.cat(path)).hexdigest() == digest


def test_push_killed_midway_leaves_the_remote_usable(
    make_project: MakeProject, s3_server: S3Server
) -> None:
    project, bucket = s3_origin(make_project, s3_server)
    (project.root / "data/raw.csv").write_text("5\n6\n", encoding="utf-8")
    big = "pipelines/big.py"
    project.write(
        {
            big: """\
            import os

            from incr import pipeline, step


            @step(outs=["out/big.bin"])
            def blob() -> None:
                os.makedirs("out", exist_ok=True)
                with open("out/big.bin", "wb") as fh:
                    fh.write(os.urandom(40 << 20))


            @pipeline
            def big():
                blob()
            """
        }
    )
    project.repro()
    commit(project, "big")
    for delay in (0.8,):  # mid-upload (the object alone takes longer)
        proc = subprocess.Popen(
            [sys.executable, "-m", "incr.cli", "push"],
            cwd=project.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        objects = remote_objects(s3_server, bucket)
        assert all(blake3(v).hexdigest() == k for k, v in objects.items())
    done = project.incr("push")
    assert done.returncode == 0, done.output
    # A large object is fetched by byte ranges, and verified whole: one flipped byte in its
    # last range is refused, then repaired from the good copy.
    digest = project.lock()["big.blob"].outputs["out/big.bin"].digest
    fs = s3_server.fs()
    path = f"{bucket}/team/cache/objects/{digest[:2]}/{digest[2:]}"
    data = bytearray(fs.cat(path))
    data[-1] ^= 0x01
    fs.pipe(path, bytes(data))
    fresh = clone(project, "fresh")
    refused = fresh.incr("pull")
    assert (
        refused.returncode == 1 and digest in refused.stderr and "Traceback" not in refused.output
    )
    assert not (fresh.root / "out/big.bin").exists()
    assert project.incr("push", "--repair").returncode == 0
    assert fresh.incr("pull").returncode == 0
    fresh.repro()
    assert fresh.take_ran() == []
    assert (fresh.root / "out/big.bin").read_bytes() == (project.root / "out/big.bin").read_bytes()


def test_remote_problems_are_one_line(
    make_project: MakeProject, s3_server: S3Server, checking_s3: S3Server
) -> None:
    project, _ = s3_origin(make_project, s3_server)
    fresh = clone(project, "fresh")  # nothing stored here: its pull must ask the remote
    cases = {
        "bucket 'nowhere' does not exist": {
            "INCR_REMOTE": "s3://nowhere/x",
            "AWS_ENDPOINT_URL": s3_server.endpoint,
        },
        "cannot reach the server": {
            "INCR_REMOTE": "s3://bucket/x",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        },
        "access denied": {
            "INCR_REMOTE": "s3://bucket/x",
            "AWS_ENDPOINT_URL": checking_s3.endpoint,
            "AWS_ACCESS_KEY_ID": "wrong",
        },
        "no credentials found": {
            "INCR_REMOTE": "s3://bucket/x",
            "AWS_ENDPOINT_URL": s3_server.endpoint,
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
        },
    }
    commands = [(project, ["push"]), (fresh, ["pull"]), (project, ["status", "--remote"])]
    runs = []
    for index, (words, env) in enumerate(cases.items()):
        where, command = commands[index % len(commands)]
        if where is project and index:  # a copy of its own, so that the commands run side by side
            where = Project(shutil.copytree(project.root, project.root.parent / f"copy{index}"))
        runs.append((words, where.root, command, env))
    # repro --pull with the server gone: one warning, then the steps run here
    offline, offline_clone = cases["cannot reach the server"], clone(project, "offline")
    with ThreadPoolExecutor(len(runs) + 1) as pool:
        results = [pool.submit(_timed_incr, root, command, env) for _, root, command, env in runs]
        pulled = pool.submit(_incr, offline_clone.root, ["repro", "--pull"], offline)
    for (words, _, command, env), future in zip(runs, results, strict=True):
        result, seconds = future.result()
        assert seconds < 15, (command, env)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (command, result.stderr)
    result = pulled.result()
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "cannot reach the server" in warnings[0], result.stderr
    assert offline_clone.take_ran() == STEPS
    assert fresh.take_ran() == []


def _timed_incr(
    root: Path, args: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    return _incr(root, args, env), time.monotonic() - started


def _incr(root: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in {**os.environ, **env}.items() if v}
    return subprocess.run(
        [sys.executable, "-m", "incr.cli", *args],
        cwd=root,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
