"""Hashing and artifact throughput: incr's stat cache and object store on large data.

Usage: python bench/bench_hashing.py [--size-mib 1024] [--files 10000] [--runs 3]

- a changed 1 GiB dependency, hashed through the stat cache (the file was just written, so it
  is in the page cache; "cold" drops its pages first with posix_fadvise and reads the disk),
- an unchanged 1 GiB dependency (a fresh process's stat cache: it must not be read),
- a folder of 10,000 small files, unchanged and first seen,
- a 1 GiB float64 numpy array stored in and loaded from the object store, through the calls
  runner.py makes today (``dump`` + ``put``, ``get`` + ``load``) and through the zero-copy ones
  (``dump_parts`` + ``put_parts``, ``get_view`` + ``load``) where this incr has them; the store
  on the project's disk and, to tell the engine's cost from the disk's, on tmpfs (/dev/shm),
- a 1 GiB ``outs`` file stored into the cache and restored from it, each in a fresh process,
  with that process's peak RSS (the file is copied by the kernel, never read into memory),
- the disk's own write speed (1 GiB written and fsynced), the bound for any store.

Medians of --runs runs, in this process, except the ``outs`` rows: one run each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from measure import table

from incr import materializers
from incr.hashing import StatCache
from incr.store import Store

GIB = 1 << 30


def timed(fn: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def age(path: Path) -> None:
    """An mtime well outside the stat cache's racy window."""
    then = time.time_ns() - 60 * 1_000_000_000
    os.utime(path, ns=(then, then))


def drop_pages(path: Path) -> None:
    """Evict a file's (clean) pages from the page cache, so the next read goes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def rate(nbytes: int, secs: float) -> str:
    return f"{nbytes / GIB / secs:.2f} GiB/s ({secs * 1000:.0f} ms)"


def write_random(path: Path, nbytes: int) -> None:
    rng = np.random.default_rng(0)
    chunk = 64 << 20
    with open(path, "wb") as fh:
        for start in range(0, nbytes, chunk):
            fh.write(rng.integers(0, 256, min(chunk, nbytes - start), dtype=np.uint8).data)
    age(path)


def file_rows(root: Path, nbytes: int, runs: int) -> list[list[str]]:
    big = root / "data" / "big.bin"
    big.parent.mkdir(parents=True)
    write_random(big, nbytes)
    rows = []

    def changed() -> None:
        cache = StatCache(root, None)
        cache.digest("data/big.bin")
        assert cache.files_read == 1

    changed()  # warm the page cache and blake3's thread pool
    rows.append([f"changed {nbytes >> 20} MiB file, hashed", rate(nbytes, timed(changed, runs))])
    drop_pages(big)
    rows.append([f"changed {nbytes >> 20} MiB file, hashed, cold", rate(nbytes, timed(changed, 1))])

    cache_file = root / ".pipecache" / "stat.json"
    first = StatCache(root, cache_file)
    first.digest("data/big.bin")
    first.save()

    def unchanged() -> None:
        cache = StatCache(root, cache_file)
        cache.digest("data/big.bin")
        assert cache.files_read == 0

    secs = timed(unchanged, runs)
    rows.append([f"unchanged {nbytes >> 20} MiB file", f"not read ({secs * 1000:.2f} ms)"])
    return rows


def folder_rows(root: Path, count: int, runs: int) -> list[list[str]]:
    folder = root / "data" / "many"
    for i in range(count):
        sub = folder / f"d{i // 100:03}"
        if i % 100 == 0:
            sub.mkdir(parents=True)
        path = sub / f"f{i:05}.csv"
        path.write_text(f"id,value\n{i},{i * i}\n")
        age(path)
    cache_file = root / ".pipecache" / "stat-folder.json"

    def first() -> None:
        cache_file.unlink(missing_ok=True)
        cache = StatCache(root, cache_file)
        cache.digest("data/many")
        cache.save()

    cold = timed(first, 1)
    loads, digests = [], []
    for _ in range(runs):
        start = time.perf_counter()
        cache = StatCache(root, cache_file)
        loaded = time.perf_counter()
        cache.digest("data/many")
        loads.append(loaded - start)
        digests.append(time.perf_counter() - loaded)
        assert cache.files_read == 0
    load, digest = statistics.median(loads), statistics.median(digests)
    return [
        [
            f"{count:,} small files, unchanged",
            f"{digest * 1000:.0f} ms (+ {load * 1000:.0f} ms to load the stat cache)",
        ],
        [f"{count:,} small files, first seen (all read)", f"{cold * 1000:.0f} ms"],
    ]


def store_rows(cache_dir: Path, nbytes: int, runs: int, where: str) -> list[list[str]]:
    array = np.random.default_rng(1).random(nbytes // 8)
    rows = []
    paths: list[tuple[str, Callable[[Store], str], Callable[[Store, str], Any]]] = [
        (
            "dump + put / get + load (runner.py today)",
            lambda s: s.put(materializers.dump(array, "bench")[1]),
            lambda s, d: materializers.load("npy", s.get(d)),
        )
    ]
    if hasattr(Store, "put_parts"):
        paths.append(
            (
                "dump_parts + put_parts / get_view + load",
                lambda s: s.put_parts(materializers.dump_parts(array, "bench")[1]),
                lambda s, d: materializers.load("npy", s.get_view(d)),
            )
        )
    for name, put, load in paths:
        stores, loads, digest = [], [], ""
        for i in range(runs):
            store = Store(cache_dir / f"store{i}")
            start = time.perf_counter()
            digest = put(store)
            stores.append(time.perf_counter() - start)
            start = time.perf_counter()
            back = load(store, digest)
            loads.append(time.perf_counter() - start)
            assert back.shape == array.shape and back[-1] == array[-1]
            del back
            if i < runs - 1:
                shutil.rmtree(store.dir)
        store = Store(cache_dir / f"store{runs - 1}")
        drop_pages(store.object_path(digest))
        cold = timed(lambda store=store, digest=digest, load=load: load(store, digest), 1)
        shutil.rmtree(store.dir)
        size = f"{nbytes >> 20} MiB"
        rows.append(
            [f"numpy {size} store, {where}: {name}", rate(nbytes, statistics.median(stores))]
        )
        rows.append([f"numpy {size} load, {where}: {name}", rate(nbytes, statistics.median(loads))])
        rows.append([f"numpy {size} load, {where}, cold: {name}", rate(nbytes, cold)])
    return rows


#: Run in a fresh process: one Store call on a file, its time, the process's peak RSS (VmHWM:
#: getrusage's ru_maxrss would carry the benchmark's own peak over the exec), and its peak
#: anonymous (private) memory, sampled every 2 ms from /proc.
_OUTS_CHILD = """
import json, sys, threading, time
from pathlib import Path
from incr.store import Store

def status_kib(field):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(field + ":"))

def anon_kib():
    return status_kib("RssAnon")

peak, done = [anon_kib()], threading.Event()
def sample():
    while not done.wait(0.002):
        peak[0] = max(peak[0], anon_kib())
threading.Thread(target=sample, daemon=True).start()
store, what, path = Store(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3])
start = time.perf_counter()
if what == "put":
    result = store.put_file(path)
else:
    store.restore_file(sys.argv[4], path, path.parent)
    result = ""
secs = time.perf_counter() - start
done.set()
rss = status_kib("VmHWM")
print(json.dumps([secs, rss, max(peak[0], anon_kib()), result]))
"""


def outs_rows(root: Path, nbytes: int) -> list[list[str]]:
    """An ``outs`` file stored into the cache and restored from it, each in a fresh process:
    the speed, and the peak memory (a file is copied by the kernel, not read into memory)."""
    import json
    import subprocess

    source = root / "out.bin"
    write_random(source, nbytes)
    cache = root / "cache"

    def child(*args: str) -> tuple[str, str]:
        out = subprocess.run(
            [sys.executable, "-c", _OUTS_CHILD, str(cache), *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        secs, rss_kib, anon_kib, result = json.loads(out)
        memory = f"peak private memory {anon_kib / 1024:.0f} MiB (RSS {rss_kib / 1024:.0f} MiB)"
        return f"{rate(nbytes, secs)}, {memory}", result

    size = f"{nbytes >> 20} MiB"
    put, digest = child("put", str(source))
    restored = root / "restored.bin"
    back, _ = child("restore", str(restored), digest)
    assert restored.stat().st_size == nbytes
    return [
        [f"outs file {size} stored (put_file)", put],
        [f"outs file {size} restored (restore_file)", back],
    ]


def disk_row(folder: Path, nbytes: int) -> list[str]:
    data = np.random.default_rng(2).integers(0, 256, nbytes, dtype=np.uint8)
    path = folder / "disk-probe.bin"
    start = time.perf_counter()
    with open(path, "wb") as fh:
        fh.write(data.data)
        fh.flush()
        os.fsync(fh.fileno())
    secs = time.perf_counter() - start
    path.unlink()
    return [f"the disk: {nbytes >> 20} MiB written and fsynced (no incr)", rate(nbytes, secs)]


def hashing_table(size_mib: int, files: int, runs: int) -> tuple[str, dict[str, str]]:
    """The markdown table, and its figures by label (for bench/suite.py's verdicts)."""
    nbytes = size_mib << 20
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("measuring file hashing ...", file=sys.stderr, flush=True)
        rows += file_rows(root, nbytes, runs)
        print("measuring folder hashing ...", file=sys.stderr, flush=True)
        rows += folder_rows(root, files, runs)
    print("measuring the object store ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        rows += store_rows(Path(tmp), nbytes, runs, "disk")
        rows += outs_rows(Path(tmp), nbytes)
        rows.append(disk_row(Path(tmp), nbytes))
    if Path("/dev/shm").is_dir() and shutil.disk_usage("/dev/shm").free > 4 * nbytes:
        with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
            rows += [r for r in store_rows(Path(tmp), nbytes, runs, "tmpfs") if "cold" not in r[0]]
    return table(["what", "figure"], rows), {label: figure for label, figure in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(hashing_table(args.size_mib, args.files, args.runs)[0])


if __name__ == "__main__":
    main()
