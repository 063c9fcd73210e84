"""Generators of benchmark projects: the same N-step chain for incr, DVC and ZenML.

Step ``s0`` returns 0 and step ``s{i}`` returns its input plus ``i``; DVC's stages pass the
value through files instead (``out{i}.txt``, each stage depending on the one before). The edit
the benchmarks time changes the code of one step in the middle without changing its result,
so early cutoff leaves the steps after it cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

#: Environment for peers: no telemetry, no update checks, no prompts.
PEER_ENV = {
    **os.environ,
    "DVC_NO_ANALYTICS": "1",
    "DVC_NO_UPDATER": "1",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "ZENML_ENABLE_RICH_TRACEBACK": "false",
    "ZENML_LOGGING_VERBOSITY": "WARN",
    "AUTO_OPEN_DASHBOARD": "false",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def _chain_module(n: int, package: str) -> str:
    """N trivial steps in a chain, each adding its index, importing from ``package``."""
    lines = [f"from {package} import pipeline, step", ""]
    for i in range(n):
        arg = "x: int" if i else ""
        body = f"return {'x + ' if i else ''}{i}"
        lines += ["", "@step", f"def s{i}({arg}) -> int:", f"    {body}", ""]
    lines += ["", "@pipeline", "def chain():", "    x = s0()"]
    lines += [f"    x = s{i}(x)" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def incr_chain_module(n: int) -> str:
    return _chain_module(n, "incr")


def make_incr_project(root: Path, n: int, names: tuple[str, ...] = ("chain",)) -> None:
    """A project of one pipeline module per name of ``names`` (``pipelines/NAME.py``), each
    holding an ``n``-step chain, the pipeline ``NAME``."""
    (root / "pipelines").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.incr]\n")
    (root / "pipelines" / "__init__.py").write_text("")
    for name in names:
        text = incr_chain_module(n).replace("def chain():", f"def {name}():")
        (root / "pipelines" / f"{name}.py").write_text(text)


def edit_incr_step(root: Path, i: int, name: str = "chain") -> None:
    """Change step ``s{i}``'s code in ``pipelines/NAME.py`` but not its result (``x + i``
    becomes ``x + i + 0``)."""
    module = root / "pipelines" / f"{name}.py"
    text = module.read_text()
    old = f"    return x + {i}\n" if i else "    return 0\n"
    assert old in text, f"step s{i} not found"
    module.write_text(text.replace(old, old[:-1] + " + 0\n", 1))


def comment_incr_chain(root: Path, text: str, name: str = "chain") -> None:
    """Put a comment line ``text`` above the first step of ``pipelines/NAME.py`` (or change
    the one put there before): an edit outside every step's body that changes no code."""
    module = root / "pipelines" / f"{name}.py"
    lines = module.read_text().split("\n")
    head = lines.index("from incr import pipeline, step")
    if lines[head + 1].startswith("#"):
        lines[head + 1] = f"# {text}"
    else:
        lines.insert(head + 1, f"# {text}")
    module.write_text("\n".join(lines))


def make_digits_project(root: Path, repo: Path) -> None:
    """A project holding the repository's digits example (the seed's ZenML caching example)."""
    (root / "pipelines").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.incr]\n")
    (root / "pipelines" / "__init__.py").write_text("")
    shutil.copy(repo / "pipelines" / "digits.py", root / "pipelines" / "digits.py")


def edit_digits_step(root: Path) -> None:
    """Change the body of the digits trainer (not its wiring): one more statement."""
    module = root / "pipelines" / "digits.py"
    text = module.read_text()
    old = "    model.fit(X_train, y_train)\n"
    assert old in text, "svc_trainer's fit not found"
    module.write_text(text.replace(old, old + "    assert model is not None\n", 1))


def dvc_yaml(n: int) -> str:
    stages = ["stages:"]
    for i in range(n):
        cmd = (
            f"echo {i} > out{i}.txt" if i == 0 else f"expr $(cat out{i - 1}.txt) + {i} > out{i}.txt"
        )
        deps = f"\n    deps: [out{i - 1}.txt]" if i else ""
        stages.append(f"  s{i}:\n    cmd: {cmd}{deps}\n    outs: [out{i}.txt]")
    return "\n".join(stages) + "\n"


def make_dvc_project(root: Path, n: int, dvc: str = "dvc") -> None:
    """A git repository with DVC initialised and the chain as ``n`` DVC stages."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env=PEER_ENV)
    subprocess.run([dvc, "init", "-q"], cwd=root, check=True, env=PEER_ENV)
    (root / "dvc.yaml").write_text(dvc_yaml(n))


def edit_dvc_stage(root: Path, i: int) -> None:
    """Change stage ``s{i}``'s command but not its result (an extra ``+ 0``)."""
    path = root / "dvc.yaml"
    text = path.read_text()
    old = f" + {i} > out{i}.txt\n" if i else f"echo {i} > out{i}.txt\n"
    new = f" + {i} + 0 > out{i}.txt\n" if i else f"echo {i}  > out{i}.txt\n"
    assert old in text, f"stage s{i} not found"
    path.write_text(text.replace(old, new, 1))


def zenml_chain_module(n: int) -> str:
    """The chain for ZenML (run as a script: ``python chain.py``)."""
    return _chain_module(n, "zenml") + '\n\nif __name__ == "__main__":\n    chain()\n'


ZENML_DIGITS = '''"""The seed's caching example: load the digits, train an SVC (ZenML 0.9x API)."""

from typing import Annotated

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.datasets import load_digits as sklearn_load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from zenml import pipeline, step


@step
def load_digits() -> tuple[
    Annotated[np.ndarray, "X_train"],
    Annotated[np.ndarray, "X_test"],
    Annotated[np.ndarray, "y_train"],
    Annotated[np.ndarray, "y_test"],
]:
    digits = sklearn_load_digits()
    data = digits.images.reshape((len(digits.images), -1))
    X_train, X_test, y_train, y_test = train_test_split(
        data, digits.target, test_size=0.2, shuffle=True, random_state=42
    )
    return X_train, X_test, y_train, y_test


@step(enable_cache=False)
def svc_trainer(X_train: np.ndarray, y_train: np.ndarray, gamma: float = 0.001) -> ClassifierMixin:
    model = SVC(gamma=gamma)
    model.fit(X_train, y_train)
    return model


@pipeline
def first_pipeline():
    X_train, X_test, y_train, y_test = load_digits()
    svc_trainer(X_train, y_train)


if __name__ == "__main__":
    first_pipeline()
'''
