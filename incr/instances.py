"""Names for several instances of one pipeline, made in a loop or one by one.

A script of ZenML's era runs one pipeline several times with other step configs
(``for gamma in ...: first_pipeline(importer(), trainer(Config(gamma=gamma))).run()``). Each
instance keeps its own lock entries and run records under its own name. The first instance
of a pipeline made in a process has the pipeline's name; a later one bound to the same steps
and configs is the same instance; another is named after the config values in which it
differs from the first, ``first_pipeline@svc_trainer.gamma=0.01`` (or numbered,
``first_pipeline@2``, when its configs are the same and its steps are not). A script and
``incr`` make the instances in the same order (module imports, then the main block), so both
give an instance the same name.
"""

from __future__ import annotations

import json
from typing import Any

#: The instances made so far of each pipeline definition (by id, the definition kept so that
#: its id is never reused), with their names.
_Made = list[tuple[tuple[Any, ...], dict[str, dict[str, Any]], str]]
_made: dict[tuple[int, str], tuple[Any, _Made]] = {}


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _binding(bound: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, dict[str, Any]]]:
    """(identity of the steps and configs bound, step name -> config values)."""
    configs = {b.step.name: b.step.config_values(b.config) for b in bound.values()}
    key = tuple(
        (param, b.step, json.dumps(configs[b.step.name], sort_keys=True, default=repr))
        for param, b in sorted(bound.items())
    )
    return key, configs


def instance_name(definition: Any, base: str, bound: dict[str, Any]) -> str:
    """The name of an instance of ``definition`` (named ``base``) bound to ``bound``."""
    # Per definition and per ``base``: instances with other pipeline parameter values have
    # their own base name (``cv@n_folds=3``, see ``incr.pipeparams``) and are numbered apart.
    made = _made.setdefault((id(definition), base), (definition, []))[1]
    key, configs = _binding(bound)
    for other_key, _, name in made:
        if other_key == key:
            return name
    if not made:
        name = base
    else:
        first = made[0][1]
        changes = [
            f"{step}.{field}={_show(value)}"
            for step, values in configs.items()
            for field, value in values.items()
            if first.get(step, {}).get(field, object()) != value
        ]
        name = f"{base}@{','.join(changes)}" if changes else f"{base}@{len(made) + 1}"
        taken = {n for _, _, n in made}
        if name in taken:
            name = f"{base}@{len(made) + 1}"
    made.append((key, configs, name))
    return name
