"""incr/fingerprint.py: code closures that draw from a global random generator are noted."""

from __future__ import annotations

import pytest

from incr.fingerprint import global_random_fix
from incr.randomdraws import generators, is_changing_value

from .support import make_index


def notes(body: str, header: str = "import numpy as np\nimport random\n") -> list[str]:
    index = make_index({"pipelines.x": header + "\n\ndef step():\n" + body})
    return [n for n in index.closure("pipelines.x", "step").dynamic if global_random_fix(n)]


@pytest.mark.parametrize(
    ("body", "header", "call"),
    [
        ("    return np.random.rand(3)\n", None, "np.random.rand()"),
        ("    return np.random.randint(0, 9)\n", None, "np.random.randint()"),
        ("    return random.random()\n", None, "random.random()"),
        ("    random.shuffle(x)\n", None, "random.shuffle()"),
        ("    return choice([1, 2])\n", "from random import choice\n", "random.choice()"),
        ("    return rand(2)\n", "from numpy.random import rand\n", "np.random.rand()"),
        ("    return npr.normal()\n", "from numpy import random as npr\n", "np.random.normal()"),
        ("    return numpy.random.rand()\n", "import numpy.random\n", "np.random.rand()"),
        ("    import numpy as np\n    return np.random.rand()\n", "", "np.random.rand()"),
    ],
)
def test_draws_from_a_global_generator_are_noted(body: str, header: str | None, call: str):
    found = notes(body) if header is None else notes(body, header)
    assert found == [f"{call} in pipelines/x.py:step"]
    fix = "np.random.default_rng(...)" if call.startswith("np.") else "random.Random(...)"
    assert global_random_fix(found[0]) == fix


@pytest.mark.parametrize(
    "body",
    [
        "    return np.random.default_rng(0).random()\n",
        "    return random.Random(0).random()\n",
        "    np.random.seed(1)\n    return np.random.rand()\n",
        "    random.seed(1)\n    return random.choice([1, 2])\n",
        "    rng = np.random.RandomState(0)\n    return rng.rand()\n",
        "    return np.mean([1, 2])\n",
    ],
    ids=["default_rng", "Random", "np-seeded-here", "seeded-here", "RandomState", "no-draw"],
)
def test_own_generators_and_seeding_in_place_are_not_noted(body: str):
    assert notes(body) == []


def test_a_helper_that_draws_is_noted_in_the_helper():
    index = make_index(
        {
            "pipelines.helpers": "import numpy as np\n\n\ndef noise():\n"
            "    return np.random.rand()\n",
            "pipelines.x": "from pipelines.helpers import noise\n\n\ndef step():\n"
            "    return noise()\n",
        }
    )
    assert index.closure("pipelines.x", "step").dynamic == (
        "np.random.rand() in pipelines/helpers.py:noise",
    )


def test_other_notes_get_no_random_fix():
    assert global_random_fix("getattr() in pipelines/x.py:step") is None
    assert global_random_fix("np.random.default_rng() in pipelines/x.py:step") is None
    assert global_random_fix("random.seed() in pipelines/x.py:step") is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("    np.random.seed(config.seed)\n", (("np.random",), ())),
        ("    np.random.set_state(state)\n", (("np.random",), ())),
        ("    random.seed(1)\n    return np.random.rand()\n", (("random",), ("np.random",))),
        ("    np.random.seed(0)\n    return np.random.rand()\n", (("np.random",), ())),
        ("    np.random.set_state(s)\n    return np.random.rand()\n", (("np.random",), ())),
        ("    return np.random.rand()\n", ((), ("np.random",))),
    ],
    ids=["seeds", "sets-state", "seeds-other", "seeds-and-draws", "state-and-draws", "draws"],
)
def test_what_a_closure_seeds_for_the_steps_after_it(body: str, expected: tuple) -> None:
    """A seed is kept (``incr.seeds``); a closure drawing from the generator it seeds draws
    from no other step's seed (no draw noted), and the steps drawing after it start where it
    left off."""
    index = make_index(
        {"pipelines.x": "import numpy as np\nimport random\n\n\ndef step():\n" + body}
    )
    assert generators(index.closure("pipelines.x", "step").dynamic) == expected


def test_a_seed_in_a_helper_counts_for_the_step_drawing_elsewhere() -> None:
    """``set_seed(0)`` then ``noise()``: the helper's seed is the step's own: no draw noted,
    and the step seeds for the steps drawing after it."""
    index = make_index(
        {
            "pipelines.x": "import numpy as np\n\n\ndef set_seed(s):\n    np.random.seed(s)\n\n\n"
            "def noise():\n    return np.random.rand()\n\n\n"
            "def step():\n    set_seed(0)\n    return noise()\n",
        }
    )
    assert generators(index.closure("pipelines.x", "step").dynamic) == (("np.random",), ())


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("from datetime import datetime", "    return datetime.now()", ["datetime.now()"]),
        ("import datetime as dt", "    return dt.date.today()", ["date.today()"]),
        ("import uuid", "    return uuid.uuid4().hex", ["uuid.uuid4()"]),
        ("from uuid import uuid1", "    return uuid1()", ["uuid.uuid1()"]),
        ("import secrets", "    return secrets.token_hex(8)", ["secrets.token_hex()"]),
        ("import pandas as pd", "    return pd.Timestamp.now()", ["pd.Timestamp.now()"]),
        ("import time", "    t = time.time()\n    return time.time() - t", []),
        ("", "    now = 1\n    return now", []),
    ],
    ids=["datetime", "date-alias", "uuid4", "uuid1-by-name", "secrets", "pandas", "time", "local"],
)
def test_calls_giving_another_value_on_each_run_are_noted(
    header: str, body: str, expected: list[str]
) -> None:
    index = make_index({"pipelines.x": header + "\n\n\ndef step():\n" + body + "\n"})
    found = [n for n in index.closure("pipelines.x", "step").dynamic if is_changing_value(n)]
    assert found == [f"{call} in pipelines/x.py:step" for call in expected]


def test_a_value_bound_at_the_top_of_a_module_is_no_such_note() -> None:
    """``TODAY = date.today()`` counts by its value (``incr.globalvalues``), not as a note."""
    text = "import datetime\n\nTODAY = datetime.date.today()\n\n\ndef step():\n    return TODAY\n"
    index = make_index({"pipelines.x": text})
    assert not any(is_changing_value(n) for n in index.closure("pipelines.x", "step").dynamic)
