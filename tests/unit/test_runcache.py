"""incr/runcache.py: run records kept in shards, changed through a journal."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from incr.model import Artifact
from incr.runcache import RUN_VARIANTS, RunRecord
from incr.store import Store


def _fp(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:32]


def _files(runs: Path) -> list[str]:
    return sorted(p.relative_to(runs).as_posix() for p in runs.rglob("*") if p.is_file())


def _records_in_a_new_process(cache: Path, fps: list[str]) -> list[list[float]]:
    """The ``created`` of each record of ``fps``, as a process that never saw them reads them."""
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from incr.store import Store
        store = Store(Path(sys.argv[1]))
        print(json.dumps([[r.created for r in store.lookup_runs(fp)] for fp in sys.argv[2:]]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(cache), *fps], capture_output=True, check=True
    )
    return json.loads(out.stdout)


def test_a_run_writes_its_records_into_shards_at_its_end(tmp_path: Path) -> None:
    store = Store(tmp_path / ".pipecache")
    out = {"o": Artifact("json", store.put(b"[1]"))}
    fps = [_fp(i) for i in range(600)]
    with store.batched():
        for i, fp in enumerate(fps):
            store.record_run(fp, out, {"data.csv": "d" * 64}, float(i), "p.s")
        assert _files(store.runs) == ["journal"], "nothing but the journal while it runs"
        assert store.lookup_run(fps[7]) == RunRecord(out, {"data.csv": "d" * 64}, 7.0)

    files = _files(store.runs)
    shards = sorted({f"{fp[:1]}.bin" for fp in fps})
    assert files == shards, "one file per shard, no journal, no file per fingerprint"
    assert len(files) == 16
    assert _records_in_a_new_process(store.dir, fps[:3]) == [[0.0], [1.0], [2.0]]


def test_a_killed_run_keeps_every_record_it_made(tmp_path: Path) -> None:
    cache = tmp_path / ".pipecache"
    script = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from incr.model import Artifact
        from incr.store import Store
        store = Store(Path(sys.argv[1]))
        out = {"o": Artifact("json", store.put(b"[1]"))}
        with store.batched():
            for fp in sys.argv[2:]:
                store.record_run(fp, out, {}, 5.0, "p.s")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    fps = [_fp(i) for i in range(40)]
    done = subprocess.run([sys.executable, "-c", script, str(cache), *fps], check=False)
    assert done.returncode == -signal.SIGKILL
    journal = cache / "runs" / "journal"
    assert _files(cache / "runs") == ["journal"]
    with journal.open("ab") as fh:
        fh.write(b'{"fp": "' + fps[1].encode() + b'", "record": "damaged"}\n[1, 2]\n')
        fh.write(b'{"fp": "' + fps[0].encode() + b'", "dro')  # a line a kill cut short

    assert _records_in_a_new_process(cache, fps[:2]) == [[5.0], [5.0]], "read from the journal"

    store = Store(cache)
    out = {"o": Artifact("json", store.put(b"[2]"))}
    with store.batched():
        store.record_run(_fp(99), out, {}, 6.0, "p.t")
        last = journal.read_bytes().splitlines()[-1]
        assert json.loads(last)["fp"] == _fp(99), "its own line starts on a line of its own"
    assert "journal" not in _files(cache / "runs"), "the next writer folds it"
    found = _records_in_a_new_process(cache, [*fps, _fp(99)])
    assert found == [[5.0]] * len(fps) + [[6.0]]


def test_records_of_the_layout_before_shards_are_read_then_folded_in(tmp_path: Path) -> None:
    store = Store(tmp_path / ".pipecache")
    out = {"o": Artifact("json", store.put(b"[1]"))}
    old, also = _fp(1), _fp(2)
    for fp, created in ((old, 3.0), (also, 4.0)):
        path = store.runs / fp[:2] / fp[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        variant = {"outputs": {"o": out["o"].encode()}, "reads": {}, "created": created}
        path.write_text(json.dumps({"variants": [variant]}), encoding="utf-8")
    temp = store.runs / old[:2] / ".x.tmp"
    temp.write_bytes(b"a temp file: incr gc's to remove")

    assert _records_in_a_new_process(store.dir, [old, also]) == [[3.0], [4.0]]
    with store.batched():
        store.record_run(old, out, {"a": "1" * 64}, 9.0, "p.s")
    assert _records_in_a_new_process(store.dir, [old, also]) == [[9.0, 3.0], [4.0]]
    shards = {f"{old[:1]}.bin", f"{also[:1]}.bin"}
    assert _files(store.runs) == sorted([f"{old[:2]}/.x.tmp", *shards])


def test_a_shard_an_older_incr_wrote_as_json_is_read_then_written_anew(tmp_path: Path) -> None:
    store = Store(tmp_path / ".pipecache")
    out = {"o": Artifact("json", store.put(b"[1]"))}
    old = _fp(1)
    also = old[:1] + _fp(2)[1:]  # the same shard
    variant = {"outputs": {"o": out["o"].encode()}, "reads": {}, "created": 3.0}
    store.runs.mkdir(parents=True)
    shard = {"format": 2, "runs": {old: [variant]}}
    (store.runs / f"{old[:1]}.json").write_text(json.dumps(shard), encoding="utf-8")

    assert _records_in_a_new_process(store.dir, [old]) == [[3.0]]
    with store.batched():
        store.record_run(also, out, {}, 4.0, "p.s")
    assert _files(store.runs) == [f"{old[:1]}.bin"]
    assert _records_in_a_new_process(store.dir, [old, also]) == [[3.0], [4.0]]


def test_every_store_of_a_cache_in_a_process_sees_the_same_records(tmp_path: Path) -> None:
    workspace, remote = Store(tmp_path / ".pipecache"), Store(tmp_path / ".pipecache")
    out = {"o": Artifact("json", workspace.put(b"[1]"))}
    with workspace.batched():
        assert workspace.lookup_run(_fp(1)) is None
        remote.record_run(_fp(1), out, {}, 2.0, "p.s")  # fetched from a remote during a run
        assert workspace.lookup_run(_fp(1)) == RunRecord(out, {}, 2.0)
    assert _records_in_a_new_process(workspace.dir, [_fp(1)]) == [[2.0]]


# ------------------------------------------------------------------ against a model

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.integers(0, 5), st.integers(0, 9)),
        st.tuples(st.just("forget"), st.integers(0, 5), st.integers(0, 9)),
        st.tuples(st.just("drop"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("batch"), st.just(0), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_OPS, st.booleans())
def test_the_run_cache_holds_what_a_plain_model_says(ops: list, fold_twice: bool) -> None:
    """Records, forgets and drops, in and out of batches, then read afresh (and, with
    ``fold_twice``, after the last journal was folded a second time, as after a crash between
    writing the shards and removing the journal): lookups give the model's records, newest
    first, at most ``RUN_VARIANTS`` per fingerprint."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / ".pipecache")
        out = {"o": Artifact("json", store.put(b"[1]"))}
        model: dict[str, list[RunRecord]] = {}
        clock = 0.0
        batch: Any = store.batched()  # "batch" ends it, or starts one: changes without a
        batch.__enter__()  # batch (``incr commit``'s) are folded at once
        for op, n, r in ops:
            fp = ("ab" if n % 2 else "cd") + _fp(n)[2:]  # three to a shard
            reads = {"f": str(r) * 64}  # ten sets of reads: more than RUN_VARIANTS
            if op == "record":
                clock += 1
                store.record_run(fp, out, reads, clock, "p.s")
                kept = [x for x in model.get(fp, []) if x.reads != reads]
                model[fp] = [RunRecord(out, reads, clock), *kept][:RUN_VARIANTS]
            elif op == "forget":
                store.forget_run(fp, reads)
                model[fp] = [x for x in model.get(fp, []) if x.reads != reads]
            elif op == "drop":
                store.drop_runs([fp])
                model[fp] = []
            elif batch is None:
                batch = store.batched()
                batch.__enter__()
            else:
                batch.__exit__(None, None, None)
                batch = None
            assert store.lookup_runs(fp) == model.get(fp, [])
        journal = store.runs / "journal"
        last = journal.read_bytes() if journal.exists() else b""
        if batch is not None:
            batch.__exit__(None, None, None)
        assert not journal.exists()
        if fold_twice and last:
            journal.write_bytes(last)
        with store.batched():  # reads the files afresh, and folds a journal left
            for fp, records in model.items():
                assert store.lookup_runs(fp) == records
        assert not journal.exists()
        assert sorted(fp for fp, _, _, _ in store.run_records()) == sorted(
            fp for fp, records in model.items() if records
        )
        names = os.listdir(store.runs) if store.runs.exists() else []
        assert all(name.endswith(".bin") for name in names)
