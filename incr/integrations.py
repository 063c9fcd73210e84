"""ZenML's pipeline options of the 0.x era, accepted on incr's one local stack.

``@pipeline(required_integrations=[SKLEARN])`` checks that each named integration's package
can be imported (the one thing such a list can mean on a local stack) and names the one that
is missing. ``requirements_file``, ``requirements``, ``dockerignore_file`` and the like
configured the Docker images of remote orchestrators: accepted, and not used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from typing import Any

from incr.errors import DefinitionError

# The integration names of that era (``zenml.integrations.constants``), as incr spells them.
SKLEARN = "sklearn"
PANDAS = "pandas"
TENSORFLOW = "tensorflow"
PYTORCH = "pytorch"
MLFLOW = "mlflow"
XGBOOST = "xgboost"
LIGHTGBM = "lightgbm"
HUGGINGFACE = "huggingface"
SCIPY = "scipy"
PLOTLY = "plotly"
FACETS = "facets"
EVIDENTLY = "evidently"
GREAT_EXPECTATIONS = "great_expectations"
WANDB = "wandb"
DASH = "dash"

#: Integration name -> (module to import, distribution to install).
PACKAGES: dict[str, tuple[str, str]] = {
    SKLEARN: ("sklearn", "scikit-learn"),
    PANDAS: ("pandas", "pandas"),
    TENSORFLOW: ("tensorflow", "tensorflow"),
    PYTORCH: ("torch", "torch"),
    MLFLOW: ("mlflow", "mlflow"),
    XGBOOST: ("xgboost", "xgboost"),
    LIGHTGBM: ("lightgbm", "lightgbm"),
    HUGGINGFACE: ("transformers", "transformers"),
    SCIPY: ("scipy", "scipy"),
    PLOTLY: ("plotly", "plotly"),
    FACETS: ("facets_overview", "facets-overview"),
    EVIDENTLY: ("evidently", "evidently"),
    GREAT_EXPECTATIONS: ("great_expectations", "great-expectations"),
    WANDB: ("wandb", "wandb"),
    DASH: ("dash", "dash"),
}

#: Options that configured remote stacks' images and runs: accepted, not used.
IGNORED = frozenset(
    {"requirements_file", "requirements", "dockerignore_file", "docker_configuration", "settings"}
)


def check_options(pipeline: str, options: Mapping[str, Any]) -> None:
    """Check ``@pipeline`` options beyond incr's own: raise DefinitionError for an unknown one
    or a required integration whose package cannot be imported."""
    for key in options:
        if key != "required_integrations" and key not in IGNORED:
            known = ", ".join(sorted({"name", "enable_cache", "required_integrations", *IGNORED}))
            raise DefinitionError(
                f"pipeline {pipeline}: unknown option {key!r}", hint=f"known options: {known}"
            )
    check_integrations(pipeline, options.get("required_integrations", ()))


def check_integrations(pipeline: str, names: Iterable[str]) -> None:
    """Raise DefinitionError naming the first integration whose package is not importable."""
    for name in names:
        module, dist = PACKAGES.get(str(name).lower(), (str(name), str(name)))
        if importlib.util.find_spec(module) is None:
            raise DefinitionError(
                f"pipeline {pipeline} requires the {name} integration, but its package "
                f"{module!r} is not installed",
                hint=f"pip install {dist}",
            )
