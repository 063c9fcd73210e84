"""Which of the pipeline instances discovery meets are one, and the environment each run saw.

A module-level instance that its main block runs, an instance made again with the same steps
and configs, ``cv(n_folds=2)`` where 2 is the default: one instance each. A ``.run()`` in
another environment than an earlier ``.run()`` of the same instance is another instance
(``instances.as_run`` names it ``train@env2``), which keeps the variables it saw
(``run_envs``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from incr.envreads import EnvChanges, changes
from incr.project import MAIN_BLOCK_ENV

if TYPE_CHECKING:
    from incr.api import PipelineInstance


def run_envs(runs: Iterable[PipelineInstance]) -> dict[int, EnvChanges]:
    """The variables the instances run (by id) saw with other values than their module left
    them, each instance's ``TracedPipeline.env``: a sweep's ``os.environ["SEED"] = seed``
    before each ``.run()``, with the value each saw (the last one's too: what the shell has
    then is not it). Called once the module is imported and its main block ran; a variable
    a module imported after it sets is not one (a script's ``.run()`` imports that module
    before its steps run, as ``discovery.import_the_rest``)."""
    left = dict(os.environ)
    ran = [i for i in runs if i.environ is not None]
    names = {n for i in ran for n, _ in changes(left, i.environ or {}) if n != MAIN_BLOCK_ENV}
    return {id(i): tuple((n, (i.environ or {}).get(n)) for n in sorted(names)) for i in ran}


def found_as(instance: PipelineInstance, found: list[PipelineInstance]) -> PipelineInstance | None:
    """The instance found already that ``instance`` is (see ``_made_before``,
    ``_same_instance``), or None."""
    for other in found:
        if _made_before(instance, other) or _same_instance(instance, other):
            return other
    return None


def _made_before(instance: PipelineInstance, other: PipelineInstance) -> bool:
    """True for an instance of the same pipeline with the same parameter values (and no
    steps bound): ``cv(n_folds=2)`` where 2 is the default is ``cv``."""
    return (
        not instance.bound
        and other.definition is instance.definition
        and not other.bound
        and other.name == instance.name
        and other.values == instance.values
    )


def _same_instance(a: PipelineInstance, b: PipelineInstance) -> bool:
    """True for one instance found twice: the same object, or the same pipeline with the same
    steps and configs bound (a module-level instance and one made again in the main block)."""
    if a is b:
        return True
    if a.name != b.name:  # one run in another environment (``instances.as_run``)
        return False
    if a.definition is not b.definition or a.bound.keys() != b.bound.keys():
        return False
    if a.values != b.values:  # cv(n_folds=3) and cv(n_folds=5) bind no steps: two instances
        return False
    return all(
        a.bound[k].step is b.bound[k].step
        and a.bound[k].step.config_values(a.bound[k].config)
        == b.bound[k].step.config_values(b.bound[k].config)
        for k in a.bound
    )
