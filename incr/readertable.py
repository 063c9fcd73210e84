"""The table of readers that open files in native code (``pd.read_parquet``, ``h5py.File``,
``sqlite3.connect``...), by full dotted name, with where their mode argument is, and the
keywords that name the file they open. Pure data; ``creaders`` finds the calls."""

from __future__ import annotations

from incr.valueclass import valueclass


@valueclass(frozen=True)
class Reader:
    """How a reader is called: where its mode argument is (position, keyword, default)."""

    mode: tuple[int, str, str] | None = None


_READ = Reader()
_MODE_R = Reader((1, "mode", "r"))
_MODE_A = Reader((1, "mode", "a"))

#: Readers that open files in native code, by their full dotted name.
READERS: dict[str, Reader] = {
    **dict.fromkeys(
        [
            "pandas.read_parquet",
            "pandas.read_feather",
            "pandas.read_orc",
            "pandas.read_hdf",
            "pandas.read_spss",
            "pyarrow.parquet.read_table",
            "pyarrow.parquet.read_pandas",
            "pyarrow.parquet.ParquetFile",
            "pyarrow.parquet.ParquetDataset",
            "pyarrow.parquet.read_metadata",
            "pyarrow.parquet.read_schema",
            "pyarrow.feather.read_table",
            "pyarrow.feather.read_feather",
            "pyarrow.csv.read_csv",
            "pyarrow.csv.open_csv",
            "pyarrow.json.read_json",
            "pyarrow.orc.read_table",
            "pyarrow.orc.ORCFile",
            "pyarrow.dataset.dataset",
            "pyarrow.ipc.open_file",
            "pyarrow.ipc.open_stream",
            "polars.read_parquet",
            "polars.scan_parquet",
            "polars.read_ipc",
            "polars.scan_ipc",
            "polars.read_csv",
            "polars.scan_csv",
            "polars.read_ndjson",
            "polars.scan_ndjson",
            "polars.read_avro",
            "polars.read_json",
            "polars.read_ipc_stream",
            "polars.read_parquet_schema",
            "polars.read_parquet_metadata",
            "polars.read_ipc_schema",
            "polars.read_lines",
            "polars.scan_lines",
            "polars.read_excel",
            "pandas.read_json",  # engine="pyarrow" reads in C
            "pyarrow.json.open_json",
            "pyarrow.input_stream",
            "scipy.io.mmread",
            "pyarrow.ipc.RecordBatchStreamReader",
            "pyarrow.ipc.RecordBatchFileReader",
            "xarray.open_dataset",
            "xarray.open_dataarray",
            "xarray.open_mfdataset",
            "xarray.open_zarr",
            "xarray.load_dataset",
            "xarray.load_dataarray",
            "cv2.imread",
            "cv2.imreadmulti",
            "cv2.VideoCapture",
            "soundfile.read",
            "librosa.load",
            "duckdb.read_parquet",
            "duckdb.read_csv",
            "faiss.read_index",
            "faiss.read_index_binary",
            "onnxruntime.InferenceSession",
            "blosc2.load_array",
            "blosc2.load_tensor",
            "xgboost.DMatrix",  # given a path: ``"data/train.svm?format=libsvm"``
            "lightgbm.Dataset",  # given a path, read when it is constructed
            "sentencepiece.SentencePieceProcessor",  # ``model_file=``
        ],
        _READ,
    ),
    **dict.fromkeys(
        [
            "h5py.File",
            "tables.open_file",
            "netCDF4.Dataset",
            "pyarrow.memory_map",
            "pyarrow.OSFile",
            "rasterio.open",
            "fiona.open",
            "soundfile.SoundFile",
            "blosc2.open",
        ],
        _MODE_R,
    ),
    **dict.fromkeys(
        ["pandas.HDFStore", "zarr.open", "zarr.open_array", "zarr.open_group"],
        _MODE_A,
    ),
    "sqlite3.connect": Reader(),  # read-write: see creaders.mode_of
    "duckdb.connect": Reader(),  # read-write unless read_only=True
}
#: The readers that are plain functions reading the file they are given, wrapped while a step
#: runs to see the path they get (``incr.nativereads``): classes and readers that may write
#: (a mode, a database connection) are left to ``creaders``.
RUNTIME = tuple(
    name
    for name, reader in READERS.items()
    if reader.mode is None
    and not name.endswith(".connect")
    and not name.rpartition(".")[2][:1].isupper()  # a class: ``pq.ParquetFile``
)
#: Modes a reader with a mode argument reads in, or writes in only (``h5py.File(p, "w")``);
#: any other may write what it reads (``"a"``, ``"r+"``).
READ_MODES = frozenset({"r", "rb", "rt", "c"})
WRITE_ONLY_MODES = frozenset({"w", "wb", "w-", "x", "wt"})
#: Readers with a mode (their ``Reader.mode``) that are a function or a class written in
#: Python: wrapped while a step runs (``incr.nativereads``), the file they get counts as read
#: in a read mode, as written in a write-only one, and otherwise as a database's: read, or
#: written when it changes while the step runs.
MODED = ("h5py.File", "pandas.HDFStore", "tables.open_file", "blosc2.open")
#: Readers that are classes written in Python whose ``__init__`` opens the file in C
#: (``pq.ParquetFile(path)``): their ``__init__`` is wrapped while a step runs
#: (``incr.nativereads``); the class stays the same object, so a subclass or ``isinstance``
#: check keeps working.
RUNTIME_CLASSES = (
    "pyarrow.parquet.ParquetFile",
    "pyarrow.parquet.ParquetDataset",
    "pyarrow.orc.ORCFile",
    "pyarrow.ipc.RecordBatchStreamReader",
    "pyarrow.ipc.RecordBatchFileReader",
    "lightgbm.Booster",  # ``lgb.Booster(model_file=path)``
    "onnxruntime.InferenceSession",
    "xgboost.DMatrix",
    "lightgbm.Dataset",
    "sentencepiece.SentencePieceProcessor",
)
#: Trainers that read their corpus and write their model in C++, by full dotted name: the
#: files named by their flags (``--input=``, ``model_prefix=``: ``nativepaths.trainer_files``)
#: are read and written. (``_Train`` is what ``train`` and ``Train`` call.)
TRAINERS = ("sentencepiece.SentencePieceTrainer._Train",)
#: Readers given a URI whose query or fragment is no part of the file's name
#: (``"data/train.svm?format=libsvm"``, ``"data/train.csv#dtrain.cache"``).
URI_READERS = frozenset({"xgboost.DMatrix"})
#: Readers that are methods written in Python that read the file in C (a model's own format),
#: by full dotted name (``module.Class.method``): the position of the path among their
#: arguments (after ``self``). Wrapped as ``RUNTIME`` readers are (``incr.nativereads``).
READER_METHODS: dict[str, int] = {
    "xgboost.Booster.load_model": 1,  # ``XGBClassifier().load_model`` and ``model_file=`` too
    "sentencepiece.SentencePieceProcessor.Load": 1,
    "sentencepiece.SentencePieceProcessor.load": 1,
}
#: Writers that are classes written in Python whose ``__init__`` opens the file in C, which
#: their methods then write chunk by chunk (``pq.ParquetWriter(path, schema)``), with the
#: position of the path among the arguments of ``__init__`` (after ``self``): wrapped as
#: ``RUNTIME_CLASSES`` are, they tell the recorder the file they open for writing.
WRITER_CLASSES: dict[str, int] = {
    "pyarrow.parquet.ParquetWriter": 1,
    "pyarrow.ipc.RecordBatchFileWriter": 1,  # ``ipc.new_file(path, schema)``
    "pyarrow.ipc.RecordBatchStreamWriter": 1,  # ``ipc.new_stream(path, schema)``
}
#: Methods of pyarrow's file systems that open or list files in C
#: (``fs.LocalFileSystem().open_input_file(path)``, ``get_file_info(fs.FileSelector(...))``):
#: found by their name, whatever they are called on (``creaders``), never wrapped (a method of
#: a class written in C cannot be replaced), so not in ``RUNTIME``.
FS_METHODS = ("open_input_file", "open_input_stream", "get_file_info")
READERS.update({f"pyarrow.fs.FileSystem.{name}": _READ for name in FS_METHODS})
#: Database connections opened in C code, with the log a database keeps committed changes in
#: beside its file until a checkpoint (SQLite in WAL mode, DuckDB), by the suffix of its name:
#: wrapped while a step runs (``incr.nativereads``) to see the database it opens, which counts
#: as read, or as written when it changes while the step runs (``RecordedReads.settle``).
CONNECTS: dict[str, str] = {"sqlite3.connect": "-wal", "duckdb.connect": ".wal"}
#: Writers written in C (Rust, Arrow's C++), by full dotted name (``Class.method`` for a
#: method): the position of the path they write among their arguments (after ``self``, for
#: a method, or after the table written). Wrapped while a step runs (``incr.nativereads``):
#: a file one writes orders the step before the steps that read it, as a write seen by
#: Python's ``open`` does.
WRITERS: dict[str, int] = {
    **dict.fromkeys(
        [
            "polars.DataFrame.write_parquet",
            "polars.DataFrame.write_csv",
            "polars.DataFrame.write_ipc",
            "polars.DataFrame.write_ipc_stream",
            "polars.DataFrame.write_ndjson",
            "polars.DataFrame.write_avro",
            "polars.LazyFrame.sink_parquet",
            "polars.LazyFrame.sink_csv",
            "polars.LazyFrame.sink_ipc",
            "polars.LazyFrame.sink_ndjson",
            "pyarrow.parquet.write_table",
            "pyarrow.feather.write_feather",
            "pyarrow.csv.write_csv",
            "pyarrow.orc.write_table",
            "pyarrow.parquet.write_to_dataset",
            "pyarrow.dataset.write_dataset",
            # pandas 3 opens the file in C++ (``pa.OSFile``) and hands pyarrow the stream.
            "pandas.DataFrame.to_parquet",
            # A model saved in its own format, by the library's C++ (the scikit-learn API's
            # ``save_model`` calls the booster's).
            "xgboost.Booster.save_model",
            "xgboost.DMatrix.save_binary",
            "lightgbm.Booster.save_model",
            "lightgbm.Dataset.save_binary",
            "faiss.write_index",
            "faiss.write_index_binary",
            "polars.DataFrame.write_json",
        ],
        1,
    ),
    "pyarrow.output_stream": 0,
    "blosc2.save_array": 1,
    "blosc2.save_tensor": 1,
    "scipy.io.mmwrite": 0,
}
#: Functions that run SQL whose table functions read files in native code (``read_csv('data/
#: x.csv')``, DuckDB's ``FROM 'data/x.parquet'``), by full dotted name: the position of the
#: query among their arguments (after ``self``, for a method). Wrapped while a step runs
#: (``incr.nativereads``): each file the query names counts as read.
SQL_READERS: dict[str, int] = {
    "polars.sql": 0,
    "polars.SQLContext.execute": 1,
    "duckdb.sql": 0,
    "duckdb.query": 0,
    "duckdb.execute": 0,
}
#: The last name of every reader: a cheap filter before resolving a call.
LAST_NAMES = frozenset(name.rpartition(".")[2] for name in READERS)
#: Keywords that name the file, when it is not the first positional argument.
PATH_KEYWORDS = (
    "path",
    "source",
    "filename",
    "filepath",
    "filepath_or_buffer",
    "path_or_buf",
    "path_or_paths",
    "filename_or_obj",
    "paths",
    "store",
    "name",
    "database",
    "file",
    "fp",
    "where",
    "input_file",
    "uri",
    "model_file",
    "path_or_bytes",
    "urlpath",
)
