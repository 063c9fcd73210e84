"""The shared remote cache against DVC and raw s3fs, on one moto S3 server on 127.0.0.1.

Usage: python bench/bench_remote.py [--small 1000] [--small-kib 4] [--big-mib 100] [--runs 3]
       [--no-dvc]

Payload: ``--small`` objects of ``--small-kib`` KiB plus one of ``--big-mib`` MiB (random
bytes). Each tool gets its own new bucket on the same server, in the same run:

- incr: a project whose ``pipeline.lock`` names the files as ``outs`` of 11 steps (ten of
  100 files, one with the large one), stored in ``.pipecache``; ``incr push`` to an empty
  remote, ``incr pull`` into an empty cache (``.pipecache`` and ``data`` removed: the files
  are restored, as DVC checks them out), then a no-op ``incr push`` and ``incr pull``.
- DVC (when ``dvc[s3]`` is installed): the same files tracked with ``dvc add data``; ``dvc
  push``, ``dvc pull`` into an empty cache (``.dvc/cache`` and ``data`` removed), no-op
  ``dvc push`` and ``dvc pull``.
- raw s3fs, the floor: one batch ``put`` of the files, one batch ``get`` into an empty folder,
  and for the no-ops one listing of the prefix (what a no-op push must at least do).

Every row runs as a command in a fresh process (wall time and peak RSS of each), the s3fs
floor too (``python bench_remote.py --raw ...``: import, session, one batch call), since a
command-line tool pays for its imports and session on every run. Each run uses new buckets;
the table gives medians over ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from measure import Sample, checked, run, seconds, table

from incr import lockfile
from incr.model import Artifact, Facts, LockEntry
from incr.store import Store

HERE = Path(__file__).resolve().parent
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "DVC_NO_ANALYTICS": "1",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])),
}


def start_moto(port: int, log: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("moto_server")
    if exe is None:
        sys.exit("moto_server is not installed: pip install 'moto[server]'")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    import socket

    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"moto_server did not start: {log.read_text()[-300:]}")


def s3(endpoint: str):  # type: ignore[no-untyped-def]
    import s3fs

    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)


def payload(folder: Path, small: int, small_kib: int, big_mib: int) -> list[Path]:
    folder.mkdir(parents=True)
    files = []
    for index in range(small):
        path = folder / f"s{index:05d}.bin"
        path.write_bytes(os.urandom(small_kib << 10))
        files.append(path)
    big = folder / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(big_mib):
            fh.write(os.urandom(1 << 20))
    return [*files, big]


def incr_project(root: Path, files: list[Path], url: str, endpoint: str) -> None:
    """A project whose lockfile names every file of the payload, stored in its cache."""
    root.mkdir()
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "bench"\n\n[tool.incr.remote]\nurl = "{url}"\n'
        f'options = {{ endpoint_url = "{endpoint}" }}\n',
        encoding="utf-8",
    )
    store = Store(root / ".pipecache")
    stored = [(f"data/{f.name}", store.put_file(f)) for f in files]
    entries = []
    groups = [stored[i : i + 100] for i in range(0, len(stored) - 1, 100)] + [stored[-1:]]
    for index, group in enumerate(groups):
        outputs = {name: Artifact("file", digest) for name, digest in group}
        facts = Facts({"pipelines/p.py:step": f"{index}"}, {}, {}, {})
        entries.append(LockEntry(f"bench.step{index}", f"{index:032x}", facts, outputs, {}))
    lockfile.write(root / "pipeline.lock", entries)


def dvc_project(root: Path, files: list[Path], url: str, endpoint: str) -> None:
    root.mkdir()
    shutil.copytree(files[0].parent, root / "data")
    for args in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["dvc", "remote", "add", "-d", "bench", url],
        ["dvc", "remote", "modify", "bench", "endpointurl", endpoint],
        ["dvc", "add", "-q", "data"],
    ):
        subprocess.run(args, cwd=root, check=True, env={**os.environ, **ENV})


def timed_cli(cmd: list[str], cwd: Path, what: str) -> Sample:
    return checked(run(cmd, cwd, {**os.environ, **ENV}), what)


def one_run(args: argparse.Namespace, endpoint: str, files: list[Path], work: Path) -> dict:
    """Every measurement once: name -> (seconds, peak RSS MiB or None)."""
    fs = s3(endpoint)
    got: dict[str, tuple[float, float | None]] = {}
    tag = uuid.uuid4().hex[:8]
    # incr
    bucket = f"incr-{tag}"
    fs.mkdir(bucket)
    root = work / f"incr-{tag}"
    incr_project(root, files, f"s3://{bucket}/cache", endpoint)
    incr = [sys.executable, "-m", "incr.cli"]
    for name, cmd in (("push", "push"), ("noop push", "push")):
        sample = timed_cli([*incr, cmd], root, f"incr {cmd}")
        got[f"incr {name}"] = (sample.seconds, sample.max_rss_mib)
    shutil.rmtree(root / ".pipecache")
    shutil.rmtree(root / "data", ignore_errors=True)
    for name in ("pull", "noop pull"):
        sample = timed_cli([*incr, "pull"], root, "incr pull")
        got[f"incr {name}"] = (sample.seconds, sample.max_rss_mib)
    # DVC
    if args.dvc:
        bucket = f"dvc-{tag}"
        fs.mkdir(bucket)
        root = work / f"dvc-{tag}"
        dvc_project(root, files, f"s3://{bucket}/cache", endpoint)
        for name in ("push", "noop push"):
            sample = timed_cli(["dvc", "push", "-q"], root, f"dvc {name}")
            got[f"dvc {name}"] = (sample.seconds, sample.max_rss_mib)
        shutil.rmtree(root / ".dvc" / "cache")
        shutil.rmtree(root / "data")
        for name in ("pull", "noop pull"):
            sample = timed_cli(["dvc", "pull", "-q"], root, f"dvc {name}")
            got[f"dvc {name}"] = (sample.seconds, sample.max_rss_mib)
    # raw s3fs batch calls, each in a fresh process like the commands above
    bucket = f"raw-{tag}"
    fs.mkdir(bucket)
    listing = work / f"raw-{tag}.txt"
    listing.write_text("\n".join(os.fspath(f) for f in files), encoding="utf-8")
    dest = work / f"raw-{tag}"
    dest.mkdir()
    raw = [sys.executable, __file__, "--raw", endpoint, bucket, str(listing), str(dest)]
    for name, mode in (("push", "put"), ("noop push", "list"), ("pull", "get")):
        sample = timed_cli([*raw, mode], work, f"s3fs {mode}")
        got[f"s3fs {name}"] = (sample.seconds, sample.max_rss_mib)
    got["s3fs noop pull"] = got["s3fs noop push"]
    return got


def raw_calls(endpoint: str, bucket: str, listing: str, dest: str, mode: str) -> None:
    """The floor: one s3fs batch call (``put``, ``get``) or one listing (``list``)."""
    files = Path(listing).read_text(encoding="utf-8").split("\n")
    remote = [f"{bucket}/raw/{Path(f).name}" for f in files]
    fs = s3(endpoint)
    if mode == "put":
        fs.put(files, remote)
    elif mode == "get":
        fs.get(remote, [os.fspath(Path(dest) / Path(f).name) for f in files])
    else:
        fs.find(f"{bucket}/raw")


def main() -> None:
    if sys.argv[1:2] == ["--raw"]:
        raw_calls(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--small-kib", type=int, default=4)
    parser.add_argument("--big-mib", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-dvc", dest="dvc", action="store_false")
    args = parser.parse_args()
    if args.dvc and shutil.which("dvc") is None:
        print("dvc is not installed (pip install 'dvc[s3]'): its rows are skipped")
        args.dvc = False
    os.environ.update(ENV)
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        work = Path(tmp)
        from socket import socket

        with socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = start_moto(port, work / "moto.log")
        try:
            endpoint = f"http://127.0.0.1:{port}"
            files = payload(work / "payload", args.small, args.small_kib, args.big_mib)
            runs = [one_run(args, endpoint, files, work) for _ in range(args.runs)]
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait()
    report(args, runs)


def report(args: argparse.Namespace, runs: list[dict]) -> None:
    tools = ["incr", *(["dvc"] if args.dvc else []), "s3fs"]
    rows = []
    for what in ("push", "pull", "noop push", "noop pull"):
        med = {t: statistics.median(r[f"{t} {what}"][0] for r in runs) for t in tools}
        rss = {t: max((r[f"{t} {what}"][1] or 0) for r in runs) for t in tools}
        row = [what.replace("noop", "no-op")]
        row += [f"{seconds(med[t])}" + (f" ({rss[t]:.0f} MiB)" if rss[t] else "") for t in tools]
        ratio = [f"{med['incr'] / med['dvc']:.2f}"] if args.dvc else []
        rows.append([*row, *ratio, f"{med['incr'] / med['s3fs']:.2f}"])
    header = ["", *tools, *(["incr / dvc"] if args.dvc else []), "incr / s3fs"]
    print(
        f"{args.small} objects of {args.small_kib} KiB + one of {args.big_mib} MiB, "
        f"median of {args.runs} runs (peak RSS of the command in parentheses)"
    )
    print(table(header, rows))


if __name__ == "__main__":
    main()
