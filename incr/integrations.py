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
AIRFLOW = "airflow"
AWS = "aws"
AZURE = "azure"
AZUREML = "azureml"
BENTOML = "bentoml"
DASH = "dash"
DEEPCHECKS = "deepchecks"
EVIDENTLY = "evidently"
FACETS = "facets"
FEAST = "feast"
GCP = "gcp"
GITHUB = "github"
GRAPHVIZ = "graphviz"
GREAT_EXPECTATIONS = "great_expectations"
HUGGINGFACE = "huggingface"
KANIKO = "kaniko"
KSERVE = "kserve"
KUBEFLOW = "kubeflow"
KUBERNETES = "kubernetes"
LABEL_STUDIO = "label_studio"
LIGHTGBM = "lightgbm"
MLFLOW = "mlflow"
NEPTUNE = "neptune"
NEURAL_PROPHET = "neural_prophet"
PANDAS = "pandas"
PILLOW = "pillow"
PLOTLY = "plotly"
PYTORCH = "pytorch"
PYTORCH_L = "pytorch_lightning"
S3 = "s3"
SAGEMAKER = "sagemaker"
SCIPY = "scipy"
SELDON = "seldon"
SKLEARN = "sklearn"
SLACK = "slack"
SPARK = "spark"
TEKTON = "tekton"
TENSORBOARD = "tensorboard"
TENSORFLOW = "tensorflow"
VAULT = "vault"
VERTEX = "vertex"
WANDB = "wandb"
WHYLOGS = "whylogs"
XGBOOST = "xgboost"

#: Integration name -> (module to import, distribution to install); an empty module: a tool
#: outside Python (Kaniko builds images), nothing to check.
PACKAGES: dict[str, tuple[str, str]] = {
    AIRFLOW: ("airflow", "apache-airflow"),
    AWS: ("boto3", "boto3"),
    AZURE: ("adlfs", "adlfs"),
    AZUREML: ("azureml.core", "azureml-core"),
    BENTOML: ("bentoml", "bentoml"),
    DASH: ("dash", "dash"),
    DEEPCHECKS: ("deepchecks", "deepchecks"),
    EVIDENTLY: ("evidently", "evidently"),
    FACETS: ("facets_overview", "facets-overview"),
    FEAST: ("feast", "feast"),
    GCP: ("gcsfs", "gcsfs"),
    GITHUB: ("github", "PyGithub"),
    GRAPHVIZ: ("graphviz", "graphviz"),
    GREAT_EXPECTATIONS: ("great_expectations", "great-expectations"),
    HUGGINGFACE: ("transformers", "transformers"),
    KANIKO: ("", ""),
    KSERVE: ("kserve", "kserve"),
    KUBEFLOW: ("kfp", "kfp"),
    KUBERNETES: ("kubernetes", "kubernetes"),
    LABEL_STUDIO: ("label_studio_sdk", "label-studio-sdk"),
    LIGHTGBM: ("lightgbm", "lightgbm"),
    MLFLOW: ("mlflow", "mlflow"),
    NEPTUNE: ("neptune", "neptune-client"),
    NEURAL_PROPHET: ("neuralprophet", "neuralprophet"),
    PANDAS: ("pandas", "pandas"),
    PILLOW: ("PIL", "Pillow"),
    PLOTLY: ("plotly", "plotly"),
    PYTORCH: ("torch", "torch"),
    PYTORCH_L: ("pytorch_lightning", "pytorch-lightning"),
    S3: ("s3fs", "s3fs"),
    SAGEMAKER: ("sagemaker", "sagemaker"),
    SCIPY: ("scipy", "scipy"),
    SELDON: ("seldon_core", "seldon-core"),
    SKLEARN: ("sklearn", "scikit-learn"),
    SLACK: ("slack_sdk", "slack-sdk"),
    SPARK: ("pyspark", "pyspark"),
    TEKTON: ("kfp_tekton", "kfp-tekton"),
    TENSORBOARD: ("tensorboard", "tensorboard"),
    TENSORFLOW: ("tensorflow", "tensorflow"),
    VAULT: ("hvac", "hvac"),
    VERTEX: ("google.cloud.aiplatform", "google-cloud-aiplatform"),
    WANDB: ("wandb", "wandb"),
    WHYLOGS: ("whylogs", "whylogs"),
    XGBOOST: ("xgboost", "xgboost"),
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
        if module and not _importable(module):
            raise DefinitionError(
                f"pipeline {pipeline} requires the {name} integration, but its package "
                f"{module!r} is not installed",
                hint=f"pip install {dist}",
            )


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported (a dotted one: its parents are imported to tell)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing
        return False
