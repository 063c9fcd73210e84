"""Values of every built-in kind, built the same way in any process, and their digests: the
two-process check of test_materializer_digests.py runs ``python -m tests.unit.materializer_values``.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import numpy as np

from incr import materializers
from incr.hashing import buffers_digest


def build() -> dict[str, Any]:
    """name -> value; the kinds whose package is missing are left out."""
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    values: dict[str, Any] = {
        "npy": rng.rand(5, 3),
        "npscalar": np.float32(2.5),
        "npz": sp.random(20, 10, density=0.2, format="csr", random_state=1),
        "json": {"name": "".join(["a", "b"]), "scores": [1, 2.5, None]},
        "pickle": ({1, 2}, ("x", 3)),
    }
    if _has("pandas") and _has("pyarrow"):
        import pandas as pd

        values["parquet"] = pd.DataFrame(
            {
                "word": [f"w{i % 7}" for i in range(50)],
                "count": np.arange(50, dtype="int32"),
                "ratio": rng.rand(50),
                "flag": pd.array([True, None] * 25, dtype="boolean"),
                "group": pd.Categorical([("a", "b")[i % 2] for i in range(50)]),
            },
            index=pd.date_range("2024-01-01", periods=50, freq="h", name="at"),
        )
        values["parquet-series"] = pd.Series(["x", "y", None], name="letters")
    if _has("sklearn") and _has("skops"):
        from sklearn.ensemble import RandomForestClassifier

        X = rng.rand(40, 3)
        model = RandomForestClassifier(n_estimators=3, random_state=0)
        values["skops"] = model.fit(X, (X[:, 0] > 0.5).astype(int))
    if _has("polars"):
        import polars as pl

        values["polars-parquet"] = pl.DataFrame({"a": [1, 2, None], "b": ["x", "y", "z"]})
    return values


def digests(values: dict[str, Any]) -> dict[str, list[str]]:
    """name -> [kind, digest of the stored bytes]."""
    found = {}
    for name, value in values.items():
        stored = materializers.encode(value, name)
        found[name] = [stored.kind, buffers_digest(stored.parts)]
    return found


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    print(json.dumps(digests(build())))
