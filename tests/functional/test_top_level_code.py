"""What a module does at its top level besides defining names counts for the steps it can
change (incr/moduletop.py): settings loaded by a package's ``__init__`` (``.env``), a
monkeypatch in a module the package imports, a flag choosing between two definitions, an
import with a fallback. Each edit reruns the step it changes, whose result then equals a run
from scratch. (What the package's ``__init__`` does counts for every step of the package:
they all import it.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

INIT = """\
from pipelines.envfile import load_env
from pipelines import patches  # noqa: F401  (for its side effect)

load_env(".env")
"""

ENVFILE = """\
import os


def load_env(path):
    for line in open(path, encoding="utf-8"):
        name, _, value = line.strip().partition("=")
        os.environ.setdefault(name, value)
"""

BASE = """\
class Scaler:
    def scale(self, v):
        return v
"""

PATCHES = """\
from pipelines.base import Scaler


def _scale(self, v):
    return v * 5


Scaler.scale = _scale
"""

OPS = """\
DEBUG = True
if DEBUG:
    SAMPLES = 10
else:
    SAMPLES = 1000

try:
    from pipelines.fast_ops import op
except ImportError:
    from pipelines.slow_ops import op
"""

STEPS = """\
import os

from incr import pipeline, step
from pipelines.base import Scaler
from pipelines.mark import mark
from pipelines.ops import SAMPLES, op


@step
def rate() -> float:
    mark("rate")
    return float(os.environ["LR"]) * 10


@step
def scaled() -> int:
    mark("scaled")
    return Scaler().scale(10)


@step
def sampled() -> int:
    mark("sampled")
    return sum(range(SAMPLES)) + op(1)


@pipeline
def top():
    rate()
    scaled()
    sampled()
"""


@pytest.fixture
def top(make_project: MakeProject) -> Project:
    project = make_project(
        {
            "pipelines/__init__.py": INIT,
            "pipelines/envfile.py": ENVFILE,
            "pipelines/base.py": BASE,
            "pipelines/patches.py": PATCHES,
            "pipelines/ops.py": OPS,
            "pipelines/fast_ops.py": "def op(x):\n    return x * 2\n",
            "pipelines/slow_ops.py": "def op(x):\n    return x + x\n",
            "pipelines/top.py": STEPS,
            ".env": "LR=0.1\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["rate", "scaled", "sampled"]
    assert project.dirty() == {}
    return project


@pytest.mark.parametrize(
    ("path", "old", "new", "step"),
    [
        (".env", "LR=0.1", "LR=0.5", "rate"),
        ("pipelines/patches.py", "v * 5", "v * 7", "scaled"),
        ("pipelines/ops.py", "DEBUG = True", "DEBUG = False", "sampled"),
        ("pipelines/fast_ops.py", "x * 2", "x * 3", "sampled"),
    ],
    ids=["env-file-loaded-by-the-package", "monkeypatch", "flag", "import-with-a-fallback"],
)
def test_an_edit_of_top_level_code_reruns_the_step_it_changes(
    top: Project, tmp_path: Path, path: str, old: str, new: str, step: str
) -> None:
    before = top.lock()[f"top.{step}"].outputs
    top.edit(path, old, new)
    assert step in top.dirty()
    fresh = fresh_copy(top, tmp_path / "fresh")
    top.repro()
    assert step in top.take_ran()
    assert top.lock()[f"top.{step}"].outputs != before
    assert_same_as_scratch(top, fresh)
    assert top.dirty() == {}


def test_the_reason_names_the_top_level_code(top: Project) -> None:
    top.edit("pipelines/__init__.py", 'load_env(".env")', 'load_env(".env")\nload_env(".env")')
    reasons = top.dirty()
    assert set(reasons) == {"rate", "scaled", "sampled"}  # every step imports the package
    assert ("code changed", "top-level code in pipelines/__init__.py") in reasons["rate"]


MAIN_BLOCK = """\
from decimal import Decimal

from incr import pipeline, step
from pipelines.mark import mark
from pipelines.precision import set_precision


@step
def third() -> str:
    mark("third")
    return str(Decimal(1) / Decimal(3))


@pipeline
def script():
    third()


def main():
    print("running")
    script().run()


if __name__ == "__main__":
    set_precision(4)
    main()
"""

PRECISION = """\
import decimal


def set_precision(digits):
    decimal.getcontext().prec = digits
"""


@pytest.mark.parametrize(
    ("path", "old", "new", "part"),
    [
        ("pipelines/script.py", "set_precision(4)", "set_precision(6)", "top-level code in"),
        ("pipelines/precision.py", "= digits", "= digits + 1", "set_precision in"),
    ],
    ids=["argument", "helper"],
)
def test_a_call_of_project_code_in_the_main_block_counts(
    make_project: MakeProject, tmp_path: Path, path: str, old: str, new: str, part: str
) -> None:
    """Discovery runs a module's ``__main__`` block, so what a project function it calls
    does (here: set the decimal precision) reaches the steps, as top-level code does. A
    ``main()`` that runs the pipeline wires: an edit of it reruns nothing."""
    project = make_project({"pipelines/script.py": MAIN_BLOCK, "pipelines/precision.py": PRECISION})
    project.repro()
    assert project.take_ran() == ["third"]
    project.edit("pipelines/script.py", 'print("running")', 'print("running now")')
    assert project.dirty() == {}

    project.edit(path, old, new)
    assert project.dirty() == {"third": [("code changed", f"{part} {path}")]}
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()
    assert project.take_ran() == ["third"]
    assert_same_as_scratch(project, fresh)


def test_a_message_printed_or_logged_at_the_top_level_counts_for_no_step(
    make_project: MakeProject,
) -> None:
    """``print("utils loaded")`` and ``logger.info(...)`` at a helper module's top level
    write a message and change nothing a step computes: adding or editing them reruns no
    step, while a call in their arguments still counts. What they print goes to stderr
    under ``--json``."""
    utils = """\
import logging

logger = logging.getLogger(__name__)


def double(x):
    return 2 * x
"""
    steps = """\
from incr import pipeline, step
from pipelines.mark import mark
from pipelines.utils import double


@step
def uses() -> int:
    mark("uses")
    return double(2)


@step
def apart() -> int:
    mark("apart")
    return 1


@pipeline
def said():
    uses()
    apart()
"""
    project = make_project({"pipelines/utils.py": utils, "pipelines/said.py": steps})
    project.repro()
    assert project.take_ran() == ["uses", "apart"]
    project.edit(
        "pipelines/utils.py",
        "logger = logging.getLogger(__name__)\n",
        'logger = logging.getLogger(__name__)\nprint("utils loaded")\nlogger.info("ready %s", 1)\n'
        'logging.warning("beta")\n',
    )
    # The module prints as it is imported: not into the JSON of `incr status --json`.
    result = project.incr("status", "--json")
    assert json.loads(result.stdout)["dirty"] == 0
    assert "utils loaded" in result.stderr
    project.repro()
    assert project.take_ran() == []
    project.edit("pipelines/utils.py", 'print("utils loaded")', 'print("utils loaded", len("ab"))')
    status = project.incr("status").stdout  # a call in its arguments may do anything
    assert "uses   dirty: code changed (+top-level code" in status, status
    assert "2 of 2 steps dirty" in status, status


SETUP = """\
import logging
import warnings
from warnings import filterwarnings

logging.basicConfig(level=logging.INFO, format="%(message)s")
logger = logging.getLogger(__name__)
logger.setLevel(logging.DEBUG)
logging.getLogger("urllib3").setLevel(logging.WARNING)
logging.captureWarnings(True)
warnings.filterwarnings("ignore", category=UserWarning)
warnings.simplefilter(action="once")
filterwarnings("ignore", message="x")


def double(x):
    return 2 * x
"""


def test_setting_up_logging_and_warnings_at_the_top_level_counts_for_no_step(
    make_project: MakeProject,
) -> None:
    """Where messages go and which are shown (``logging.basicConfig``, a logger's level,
    ``warnings.filterwarnings("ignore")``) changes nothing a step computes: adding or editing
    those lines reruns no step. A filter that turns warnings into errors counts."""
    steps = """\
from incr import pipeline, step
from pipelines.mark import mark
from pipelines.utils import double


@step
def uses() -> int:
    mark("uses")
    return double(2)


@pipeline
def quiet():
    uses()
"""
    plain = SETUP[SETUP.index("def double") :]
    project = make_project({"pipelines/utils.py": plain, "pipelines/quiet.py": steps})
    project.repro()
    assert project.take_ran() == ["uses"]
    project.write({"pipelines/utils.py": SETUP})
    assert project.dirty() == {}
    project.edit("pipelines/utils.py", "logging.INFO, format", "logging.WARNING, format")
    project.edit("pipelines/utils.py", '"ignore", category', '"always", category')
    project.repro()
    assert project.take_ran() == []
    project.edit("pipelines/utils.py", 'simplefilter(action="once")', 'simplefilter("error")')
    ((kind, detail),) = project.reasons()["uses"]
    assert (kind, detail.split(", ")[0]) == (
        "code changed",
        "+top-level code in pipelines/utils.py",
    )


FILLED = """\
import logging

LIMIT = 5
OPTS = {"a": 1}
OPTS.update(a=2)
ITEMS = [1]
ITEMS.append(2)
LEVELS = logging.getLevelNamesMapping()
LEVELS.update(CUSTOM=5)
"""

USES_FILLED = """\
from incr import pipeline, step
from pipelines.consts import ITEMS, LIMIT, OPTS
from pipelines.mark import mark


@step
def opts() -> int:
    mark("opts")
    return OPTS["a"]


@step
def items() -> int:
    mark("items")
    return sum(ITEMS)


@step
def limit() -> int:
    mark("limit")
    return LIMIT


@pipeline
def filled():
    opts()
    items()
    limit()
"""


def test_a_container_filled_at_the_top_level_counts_for_the_steps_using_it(
    make_project: MakeProject,
) -> None:
    """``OPTS.update(a=2)`` and ``ITEMS.append(2)`` on containers the module makes change
    those containers alone, as ``OPTS["a"] = 2`` does: editing them reruns the steps using
    them, not every step of the module. Filling an object the module did not make, or with
    another of its definitions, still counts for every step."""
    project = make_project({"pipelines/consts.py": FILLED, "pipelines/filled.py": USES_FILLED})
    project.repro()
    assert project.take_ran() == ["opts", "items", "limit"]
    project.edit("pipelines/consts.py", "OPTS.update(a=2)", "OPTS.update(a=3)")
    project.edit("pipelines/consts.py", "ITEMS.append(2)", "ITEMS.append(4)")
    assert project.dirty() == {
        "opts": [("code changed", "OPTS in pipelines/consts.py")],
        "items": [("code changed", "ITEMS in pipelines/consts.py")],
    }
    project.repro()
    assert project.take_ran() == ["opts", "items"]
    project.edit("pipelines/consts.py", "LEVELS.update(CUSTOM=5)", "LEVELS.update(CUSTOM=6)")
    assert set(project.dirty()) == {"opts", "items", "limit"}  # a library's own table
    project.repro()
    project.take_ran()
    project.edit("pipelines/consts.py", "ITEMS.append(4)", "ITEMS.append(LIMIT)")
    assert set(project.dirty()) == {"opts", "items", "limit"}  # names another definition


SETS_ATTRIBUTE = """\
class Cfg:
    LR = 0.1


class Other:
    N = 3


setattr(Cfg, "LR", 0.7)
"""

USES_CLASSES = """\
from incr import pipeline, step
from pipelines.consts import Cfg, Other
from pipelines.mark import mark


@step
def lr() -> float:
    mark("lr")
    return Cfg.LR


@step
def n() -> int:
    mark("n")
    return Other.N


@pipeline
def classes():
    lr()
    n()
"""


def test_setattr_on_a_class_of_the_module_counts_for_the_steps_using_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``setattr(Cfg, "LR", 0.7)`` at the top level changes ``Cfg`` as ``Cfg.LR = 0.7`` does:
    an edit of it reruns the steps using ``Cfg``; with a call in its arguments it counts for
    every step."""
    project = make_project(
        {"pipelines/consts.py": SETS_ATTRIBUTE, "pipelines/classes.py": USES_CLASSES}
    )
    project.repro()
    assert project.take_ran() == ["lr", "n"]
    project.edit("pipelines/consts.py", '"LR", 0.7)', '"LR", 0.8)')
    assert project.dirty() == {"lr": [("code changed", "Cfg in pipelines/consts.py")]}
    project.repro()
    assert project.take_ran() == ["lr"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.edit("pipelines/consts.py", '"LR", 0.8)', '"LR", float("0.8"))')
    assert set(project.dirty()) == {"lr", "n"}
