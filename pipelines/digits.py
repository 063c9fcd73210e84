"""The caching example from ZenML's docs, on incr: load the digits data set, train an SVC.

Run it as a script (``python pipelines/digits.py``) to see the three runs of the seed page,
or let ``incr repro`` bring ``first_pipeline`` up to date. The arrays are stored as ``.npy``
and the fitted SVC with skops (``kind = skops`` in ``pipeline.lock``): loading it back runs no
code from the cache, only scikit-learn's own types are built.
"""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.datasets import load_digits as sklearn_load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from incr import BaseStepConfig, Output, pipeline, step


def get_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 8x8 digits images, flattened, split 80/20 with a fixed seed."""
    digits = sklearn_load_digits()
    data = digits.images.reshape((len(digits.images), -1))
    X_train, X_test, y_train, y_test = train_test_split(
        data, digits.target, test_size=0.2, shuffle=True, random_state=42
    )
    return X_train, X_test, y_train, y_test


@step
def load_digits() -> Output(
    X_train=np.ndarray, X_test=np.ndarray, y_train=np.ndarray, y_test=np.ndarray
):
    """Loads the digits dataset as normal numpy arrays."""
    X_train, X_test, y_train, y_test = get_digits()
    return X_train, X_test, y_train, y_test


class SVCTrainerStepConfig(BaseStepConfig):
    """Trainer params"""

    gamma: float = 0.001


@step(enable_cache=False)  # never cache this step, always retrain
def svc_trainer(
    config: SVCTrainerStepConfig,
    X_train: np.ndarray,
    y_train: np.ndarray,
) -> ClassifierMixin:
    """Train a sklearn SVC classifier."""
    model = SVC(gamma=config.gamma)
    model.fit(X_train, y_train)
    return model


@pipeline
def first_pipeline(step_1, step_2):
    X_train, X_test, y_train, y_test = step_1()
    step_2(X_train, y_train)


first_pipeline_instance = first_pipeline(step_1=load_digits(), step_2=svc_trainer())

if __name__ == "__main__":
    # The pipeline is executed for the first time, so all steps are run.
    first_pipeline_instance.run()

    # Step one will use cache, step two will rerun due to the decorator config
    first_pipeline_instance.run()

    # The complete pipeline will be rerun
    first_pipeline_instance.run(enable_cache=False)
