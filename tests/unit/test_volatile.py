"""incr.volatile: the calls that wire a module's pipelines anew on each run."""

from __future__ import annotations

import ast
import textwrap

import pytest

from incr.volatile import volatile_calls


def calls(text: str) -> list[str]:
    source = textwrap.dedent(text)
    return volatile_calls(source.encode(), ast.parse(source))


@pytest.mark.parametrize(
    "expression",
    [
        "datetime.datetime.now()",
        "datetime.now(timezone.utc)",
        "date.today()",
        "pd.Timestamp.now()",
        "time.time()",
        "time.strftime('%Y')",
        "random.randint(0, 9)",
        "np.random.rand()",
        "np.random.default_rng()",
        "uuid.uuid4()",
        "os.getpid()",
        "secrets.token_hex(4)",
    ],
)
def test_a_call_in_a_pipeline_body_is_volatile(expression: str) -> None:
    text = f"""
        import datetime, os, random, secrets, time, uuid
        import numpy as np
        import pandas as pd
        from datetime import date, datetime, timezone
        from incr import pipeline


        @pipeline
        def daily():
            ingest(config=C(tag=str({expression})))
        """
    assert len(calls(text)) == 1, expression


def test_top_level_code_and_imported_functions_count_too() -> None:
    text = """
        from time import time
        from incr import pipeline

        STAMP = time()
        """
    assert calls(text) == ["time() (line 5)"]


@pytest.mark.parametrize(
    "text",
    [
        # the clock read inside a step or a helper: no wiring
        """
        import time
        from incr import pipeline, step


        @step
        def stamp() -> float:
            return time.time()


        def helper():
            return time.time()


        @pipeline
        def p():
            stamp()
        """,
        # seeded generators are the same on each run
        """
        import random
        import numpy as np
        from incr import pipeline

        random.seed(0)
        np.random.seed(0)
        RNG = np.random.default_rng(42)


        @pipeline
        def p():
            pass
        """,
        # no word to look for: not walked
        "X = 1\n",
    ],
    ids=["step-and-helper", "seeded", "plain"],
)
def test_what_is_not_volatile(text: str) -> None:
    assert calls(text) == []


def test_a_helper_of_the_module_called_while_wiring_counts() -> None:
    """A function of the module that a ``@pipeline`` body calls, or one it calls in turn,
    runs while the pipelines are wired; one only a step calls does not."""
    text = """
        from datetime import date
        from incr import pipeline, step


        def partition():
            return f"day={_today()}"


        def _today():
            return date.today().isoformat()


        def stamp():
            return date.today()


        @step
        def ingest(day: str) -> str:
            return day + str(stamp())


        @pipeline
        def daily():
            ingest(partition())
        """
    assert calls(text) == ["date.today() (line 11)"]


def test_the_modules_the_wiring_imports_only_if_found() -> None:
    from incr.volatile import optional_imports

    text = textwrap.dedent(
        """
        import importlib.util
        from incr import pipeline, step

        try:
            import fancylib
            from .settings_local import LEVEL
        except ImportError:
            fancylib = None

        try:
            import orjson as json
        except (ModuleNotFoundError, ValueError):
            import json

        try:
            import yaml
        except OSError:  # not a failed import
            yaml = None

        HAS_TORCH = importlib.util.find_spec("torch") is not None


        @step
        def s() -> int:
            try:
                import inside_a_step  # a step's body: no wiring
            except ImportError:
                return 0
            return 1


        @pipeline
        def p():
            try:
                from plugins import extra
            except Exception:
                extra = None
        """
    )
    found = optional_imports(text.encode(), ast.parse(text), "pipelines")
    assert found == ["fancylib", "orjson", "pipelines.settings_local", "plugins", "torch"]
    assert optional_imports(b"import json\n", ast.parse("import json\n"), "pipelines") == []


def test_a_module_is_found_as_an_import_would_find_it(tmp_path, monkeypatch) -> None:
    from incr.learned import module_value

    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "local.py").write_text("")
    assert module_value(tmp_path, "pipelines.local") == "found"
    assert module_value(tmp_path, "pipelines.other") == "missing"
    assert module_value(tmp_path, "json") == "found"
    assert module_value(tmp_path, "no_such_module_here") == "missing"
    site = tmp_path / "site"
    (site / "no_such_module_here").mkdir(parents=True)
    (site / "no_such_module_here" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    assert module_value(tmp_path, "no_such_module_here") == "found"
