"""incr: an incremental pipeline engine for Python data and ML work.

Steps and pipelines are written ZenML style; runs are incremental like Make and DVC: a committed
``pipeline.lock`` records each step's fingerprint, and only dirty steps rerun.
"""

from incr.api import BaseStepConfig, Output, StepConfig, pipeline, step
from incr.imports import install_for_script

install_for_script()

__all__ = ["BaseStepConfig", "Output", "StepConfig", "pipeline", "step"]
__version__ = "0.1.0"
