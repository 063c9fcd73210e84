"""incr/creaders.py through CodeIndex: calls of readers that open files in C are found in a
step's closure, with the path when it is known before the step runs."""

from __future__ import annotations

import pytest

from incr.creaders import project_path, step_files

from .support import make_index

Reader = tuple[str, str, str, str]


def readers(flow: str, helpers: str | None = None, name: str = "load") -> list[Reader]:
    modules = {"pipelines.flow": flow}
    if helpers is not None:
        modules["pipelines.helpers"] = helpers
    return list(make_index(modules).closure("pipelines.flow", name).readers)


@pytest.mark.parametrize(
    ("imports", "call", "text"),
    [
        ("import pandas as pd", 'pd.read_parquet("data/x.parquet")', "pd.read_parquet"),
        ("import pandas", 'pandas.read_feather("data/x.parquet")', "pandas.read_feather"),
        ("from pandas import read_hdf", 'read_hdf("data/x.parquet")', "read_hdf"),
        ("import pyarrow.parquet as pq", 'pq.read_table("data/x.parquet")', "pq.read_table"),
        ("from pyarrow import parquet as pq", 'pq.ParquetFile("data/x.parquet")', "pq.ParquetFile"),
        (
            "import pyarrow as pa",
            'pa.parquet.read_table("data/x.parquet")',
            "pa.parquet.read_table",
        ),
        ("import h5py", 'h5py.File("data/x.parquet")', "h5py.File"),
        ("import h5py", 'h5py.File("data/x.parquet", "r")', "h5py.File"),
        ("import tables", 'tables.open_file("data/x.parquet")', "tables.open_file"),
        ("import xarray as xr", 'xr.open_dataset("data/x.parquet")', "xr.open_dataset"),
        ("import zarr", 'zarr.open("data/x.parquet", mode="r")', "zarr.open"),
        ("import cv2", 'cv2.imread("data/x.parquet")', "cv2.imread"),
        ("import sqlite3", 'sqlite3.connect("data/x.parquet")', "sqlite3.connect"),
        ("import pandas as pd", 'pd.HDFStore("data/x.parquet", mode="r")', "pd.HDFStore"),
        ("import polars as pl", 'pl.scan_parquet("data/x.parquet")', "pl.scan_parquet"),
    ],
)
def test_native_readers_with_a_literal_path_are_found(imports: str, call: str, text: str) -> None:
    flow = f"{imports}\n\n\ndef load():\n    return {call}\n"
    place = f"{text}() in pipelines/flow.py:load"
    found = [(place, "r", "path", "data/x.parquet")]
    if text == "sqlite3.connect":  # and its write-ahead log
        found.append((place, "r", "path+-wal", "data/x.parquet"))
    assert readers(flow) == found


def test_an_import_inside_the_function_is_followed() -> None:
    flow = 'def load():\n    import sqlite3\n\n    return sqlite3.connect("data/app.db")\n'
    place = "sqlite3.connect() in pipelines/flow.py:load"
    assert readers(flow) == [
        (place, "r", "path", "data/app.db"),
        (place, "r", "path+-wal", "data/app.db"),
    ]


@pytest.mark.parametrize(
    "call",
    [
        "open('data/x.csv')",
        "np.load('data/x.npy')",
        "np.memmap('data/x.bin', dtype='f8', mode='r')",
        "json.load(fh)",
        "helpers.read_parquet('data/x.parquet')",
    ],
)
def test_calls_the_read_recorder_sees_or_project_code_are_not_readers(call: str) -> None:
    imports = "import json\n\nimport numpy as np\nfrom pipelines import helpers\n\n\n"
    flow = f"{imports}def load(fh):\n    return {call}\n"
    helpers = "def read_parquet(path):\n    return path\n"
    assert readers(flow, helpers) == []


@pytest.mark.parametrize(
    ("prelude", "argument", "expected"),
    [
        ('DATA = "data/x.parquet"', "DATA", "data/x.parquet"),
        ('BASE = Path("data")', 'BASE / "x.parquet"', "data/x.parquet"),
        ('BASE = "data"', 'os.path.join(BASE, "x.parquet")', "data/x.parquet"),
        ("from pipelines.helpers import DATA", "DATA", "data/h.parquet"),
        ('NAME: str = "data/x.parquet"', "str(NAME)", "data/x.parquet"),
    ],
)
def test_module_level_constants_give_the_path(prelude: str, argument: str, expected: str) -> None:
    flow = (
        f"import os\nfrom pathlib import Path\n\nimport pandas as pd\n\n{prelude}\n\n\n"
        f"def load():\n    return pd.read_parquet({argument})\n"
    )
    helpers = 'DATA = "data/h.parquet"\n'
    [(_, mode, kind, value)] = readers(flow, helpers)
    assert (mode, kind, value) == ("r", "path", expected)


def test_a_local_variable_assigned_once_gives_the_path() -> None:
    flow = (
        "import pandas as pd\n\n\ndef load():\n    path = 'data/x.parquet'\n"
        "    return pd.read_parquet(path)\n"
    )
    assert readers(flow)[0][2:] == ("path", "data/x.parquet")


def test_a_config_field_in_the_step_itself_is_a_config_path() -> None:
    flow = "import pandas as pd\n\n\ndef load(config):\n    return pd.read_parquet(config.path)\n"
    assert readers(flow)[0][2:] == ("config", "path")


@pytest.mark.parametrize(
    ("flow", "place"),
    [
        (
            "import pandas as pd\n\n\ndef load(path):\n    return pd.read_parquet(path)\n",
            "pd.read_parquet() in pipelines/flow.py:load",
        ),
        (
            "from pipelines.helpers import read\n\n\ndef load(c):\n    return read(c.path)\n",
            "pq.read_table() in pipelines/helpers.py:read",
        ),
        (
            "import pandas as pd\n\n\ndef load(d):\n    return pd.read_parquet(f'{d}/x.parquet')\n",
            "pd.read_parquet() in pipelines/flow.py:load",
        ),
    ],
)
def test_a_path_not_known_before_the_run_is_seen_when_the_reader_is_called(
    flow: str, place: str
) -> None:
    helpers = "import pyarrow.parquet as pq\n\n\ndef read(path):\n    return pq.read_table(path)\n"
    assert readers(flow, helpers) == [(place, "r", "seen", "")]


def test_a_reader_class_given_a_path_not_known_before_the_run_is_seen_or_unknown() -> None:
    """A class written in Python has its ``__init__`` wrapped (``incr.nativereads``): its file
    is seen when the step runs, as is one with a mode (``h5py.File``). Another class
    (``netCDF4.Dataset``, written in C) is not: its file is unknown, and gets a note."""
    flow = "import pyarrow.parquet as pq\n\n\ndef load(path):\n    return pq.ParquetFile(path)\n"
    place = "pq.ParquetFile() in pipelines/flow.py:load"
    assert readers(flow) == [(place, "r", "seen", "")]
    flow = "import h5py\n\n\ndef load(path):\n    return h5py.File(path)\n"
    assert readers(flow) == [("h5py.File() in pipelines/flow.py:load", "r", "seen", "")]
    flow = "import netCDF4\n\n\ndef load(path):\n    return netCDF4.Dataset(path)\n"
    place = "netCDF4.Dataset() in pipelines/flow.py:load"
    assert readers(flow) == [(place, "r", "unknown", "")]


@pytest.mark.parametrize(
    "body",
    [
        "return pd.concat(map(pd.read_parquet, files))",
        'return {".parquet": pd.read_parquet}[".parquet"](files[0])',
    ],
    ids=["map", "table"],
)
def test_a_reader_passed_as_a_value_is_seen_when_called(body: str) -> None:
    flow = f"import pandas as pd\n\n\ndef load(files):\n    {body}\n"
    assert readers(flow) == [("pd.read_parquet() in pipelines/flow.py:load", "r", "seen", "")]


@pytest.mark.parametrize(
    ("imports", "call", "text"),
    [
        ("import polars as pl", 'pl.read_json("data/x.parquet")', "pl.read_json"),
        ("import polars as pl", 'pl.read_ipc_stream("data/x.parquet")', "pl.read_ipc_stream"),
        (
            "import pyarrow.ipc",
            'pyarrow.ipc.RecordBatchStreamReader("data/x.parquet")',
            "pyarrow.ipc.RecordBatchStreamReader",
        ),
    ],
)
def test_more_native_readers(imports: str, call: str, text: str) -> None:
    flow = f"{imports}\n\n\ndef load():\n    return {call}\n"
    assert readers(flow) == [(f"{text}() in pipelines/flow.py:load", "r", "path", "data/x.parquet")]


@pytest.mark.parametrize(
    ("call", "mode"),
    [
        ('h5py.File("data/x.h5", "a")', "rw"),
        ('h5py.File("data/x.h5", mode="r+")', "rw"),
        ('pd.HDFStore("data/x.h5")', "rw"),
        ('zarr.open("data/x.zarr")', "rw"),
        ('sqlite3.connect("file:data/x.db?mode=ro", uri=True)', "r"),
        ('duckdb.connect("data/x.db", read_only=True)', "r"),
        ('duckdb.connect("data/x.db")', "rw"),
    ],
)
def test_calls_that_may_write_are_read_write(call: str, mode: str) -> None:
    flow = (
        "import duckdb\nimport h5py\nimport pandas as pd\nimport sqlite3\nimport zarr\n\n\n"
        f"def load():\n    return {call}\n"
    )
    assert readers(flow)[0][1] == mode


def test_an_sqlite_connection_that_writes_is_read_write() -> None:
    flow = (
        "import sqlite3\n\n\ndef load():\n    con = sqlite3.connect('data/app.db')\n"
        "    con.execute('INSERT INTO t VALUES (1)')\n    con.commit()\n"
    )
    assert readers(flow)[0][1] == "rw"


def test_a_call_that_only_writes_is_left_out() -> None:
    flow = "import h5py\n\n\ndef load():\n    return h5py.File('data/out.h5', 'w')\n"
    assert readers(flow) == []


def test_readers_are_memoised_with_the_definition() -> None:
    flow = "import pandas as pd\n\n\ndef load():\n    return pd.read_parquet('data/x.parquet')\n"
    index = make_index({"pipelines.flow": flow})
    first = index.closure("pipelines.flow", "load").readers
    again = make_index({"pipelines.flow": flow})
    again.memo.update(index.memo)
    assert again.closure("pipelines.flow", "load").readers == first


# --------------------------------------------------------------------------- a step's files

PLACE = "pd.read_parquet() in pipelines/flow.py:load"


def test_known_paths_are_tracked_and_unknown_ones_get_a_note() -> None:
    found = [
        (PLACE, "r", "path", "data/x.parquet"),
        (PLACE, "r", "config", "source"),
        ("pq.read_table() in pipelines/io.py:read", "r", "unknown", ""),
    ]
    paths, notes = step_files(found, {"source": "data/y.parquet"}, (), (), "/p")
    assert paths == ["data/x.parquet", "data/y.parquet"]
    assert notes == [
        "pq.read_table() in pipelines/io.py:read opens files incr cannot see; "
        "list them in deps=[...]"
    ]


def test_a_database_log_beside_the_file_is_tracked_with_it() -> None:
    """SQLite in WAL mode keeps committed rows in ``NAME-wal`` until a checkpoint."""
    sql = "sqlite3.connect() in pipelines/flow.py:load"
    found = [
        (sql, "r", "path", "data/app.db"),
        (sql, "r", "path+-wal", "data/app.db"),
        (sql, "r", "config", "db"),
        (sql, "r", "config+-wal", "db"),
        (sql, "r", "path", ":memory:"),
        (sql, "r", "path+-wal", ":memory:"),
        (sql, "r", "path+-wal", "file:data/app.db?mode=ro"),
        (sql, "r", "config+-wal", "missing_field"),
    ]
    paths, notes = step_files(found, {"db": "data/b.db"}, (), (), "/p")
    assert paths == ["data/app.db", "data/app.db-wal", "data/b.db", "data/b.db-wal"]
    assert notes == []


def test_declared_deps_and_outs_cover_their_files() -> None:
    found = [
        (PLACE, "r", "path", "data/x.parquet"),
        (PLACE, "r", "path", "out/y.parquet"),
        (PLACE, "r", "unknown", ""),
    ]
    assert step_files(found, {}, ("data",), ("out/y.parquet",), "/p") == ([], [])


def test_a_file_that_may_be_written_gets_a_note() -> None:
    _, [note] = step_files([(PLACE, "rw", "path", "data/x.h5")], {}, (), (), "/p")
    assert note.startswith(f"{PLACE} opens data/x.h5 and may write it")
    assert "deps=[...]" in note and "outs=[...]" in note


def test_a_path_outside_the_project_gets_a_note() -> None:
    _, [note] = step_files([(PLACE, "r", "path", "s3://bucket/x.parquet")], {}, (), (), "/p")
    assert "s3://bucket/x.parquet" in note


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/x.db", "data/x.db"),
        ("./data/../data/x.db", "data/x.db"),
        ("/p/data/x.db", "data/x.db"),
        ("file:data/x.db?mode=ro", "data/x.db"),
        (":memory:", ""),
        ("", ""),
        ("file::memory:?cache=shared", ""),
        ("/elsewhere/x.db", None),
        ("../x.db", None),
        ("data/*.parquet", None),
        ("s3://bucket/x", None),
        ("~/x.db", None),
        (".", None),
    ],
)
def test_project_path(path: str, expected: str | None) -> None:
    assert project_path(path, "/p") == expected


def test_a_reader_imported_under_an_if_is_still_a_reader() -> None:
    flow = (
        "import os\n\nif os.name == 'posix':\n    import pandas as pd\n\n\n"
        "def load():\n    return pd.read_parquet('data/x.parquet')\n"
    )
    assert readers(flow) == [
        ("pd.read_parquet() in pipelines/flow.py:load", "r", "path", "data/x.parquet")
    ]
