"""incr/fingerprint.py: code closures that draw from a global random generator are noted."""

from __future__ import annotations

import pytest

from incr.fingerprint import global_random_fix
from incr.randomdraws import generators

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
