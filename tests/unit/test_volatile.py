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
