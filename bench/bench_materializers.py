"""A large pandas DataFrame stored and loaded as Parquet (incr's ``parquet`` materializer) next to
pickle, through the calls the runner makes: ``materializers.encode`` + ``Store.put_parts`` to
save, ``Store.get_view`` + ``materializers.decode`` to load.

Usage: python bench/bench_materializers.py [--size-mib 1024] [--runs 1] [--store DIR]

The frame: a DatetimeIndex, eight float64 columns of random values, an int64 counter and a
string column of 50 distinct short words (the mix of a typical feature table), ``--size-mib``
in memory (``memory_usage(deep=True)``). Each save is of a frame the store does not hold yet
(a new object written and fsynced); each load reads an object written by the save before.
Also shown: the stored size, and whether the loaded frame equals the original.
Medians of --runs runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from measure import table

from incr import materializers
from incr.builtinformats import PickleMaterializer
from incr.frames import PandasMaterializer
from incr.store import Store

MIB = 1 << 20


def make_frame(size_mib: int, seed: int = 0) -> Any:
    import pandas as pd

    rows = max(1, size_mib * MIB // 88)  # about 88 bytes a row, measured below
    rng = np.random.default_rng(seed)
    words = np.array([f"word{i:02d}" for i in range(50)], dtype=object)
    data: dict[str, Any] = {f"x{i}": rng.random(rows) for i in range(8)}
    data["n"] = np.arange(rows, dtype=np.int64)
    data["word"] = pd.array(words[rng.integers(0, 50, rows)], dtype="str")
    index = pd.date_range("2020-01-01", periods=rows, freq="s", name="at")
    return pd.DataFrame(data, index=index)


def run_once(store: Store, frame: Any, mat: type[materializers.Materializer]) -> dict[str, Any]:
    gc.collect()
    start = time.perf_counter()
    stored = materializers.encode(frame, "bench.frame", override=mat)
    digest = store.put_parts(stored.parts)
    saved = time.perf_counter() - start
    del stored
    gc.collect()
    start = time.perf_counter()
    back = materializers.decode(mat.kind, store.get_view(digest))
    loaded = time.perf_counter() - start
    same = bool(back.equals(frame)) and list(back.dtypes) == list(frame.dtypes)
    size = store.object_path(digest).stat().st_size
    store.object_path(digest).unlink()  # the next run writes a new object again
    return {"save": saved, "load": loaded, "bytes": size, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--store", type=Path, default=None, help="where the object store goes")
    args = parser.parse_args()

    frame = make_frame(args.size_mib)
    in_memory = frame.memory_usage(deep=True).sum()
    print(f"frame: {len(frame):,} rows, {in_memory / MIB:,.0f} MiB in memory", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.store, prefix="incr-bench-mat-") as tmp:
        store = Store(Path(tmp) / ".pipecache")
        for mat in (PandasMaterializer, PickleMaterializer):
            samples = [run_once(store, frame, mat) for _ in range(args.runs)]
            save = statistics.median(s["save"] for s in samples)
            load = statistics.median(s["load"] for s in samples)
            size = samples[-1]["bytes"]
            rows.append(
                [
                    mat.kind,
                    f"{in_memory / MIB:,.0f} MiB",
                    f"{save:.2f} s ({in_memory / MIB / save:,.0f} MiB/s)",
                    f"{load:.2f} s ({in_memory / MIB / load:,.0f} MiB/s)",
                    f"{size / MIB:,.0f} MiB",
                    "yes" if all(s["same"] for s in samples) else "NO",
                ]
            )
    header = ["kind", "frame", "save (encode + put)", "load (get + decode)", "stored", "equal"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
