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

An instance's ``.run()`` with another environment than an earlier ``.run()`` of it saw (a
sweep loop that sets ``os.environ["SEED"]`` before each) runs another instance too
(``as_run``), numbered by the environments seen, ``train@env2`` (``cv@n_folds=3,env2``): its
steps see their own values in ``incr repro`` as in the script, and keep their own entries.
Never by the values: ``pipeline.lock`` holds no environment value.
"""

from __future__ import annotations

import copy
import json
import os
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


class Named:
    """A pipeline instance's name (read-only to its users), and the environment its last
    ``.run()`` saw (``as_run``)."""

    _name: str = ""
    environ: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self._name

    def renamed(self, name: str, environ: dict[str, str]) -> Any:
        """Itself, run in ``environ``, when ``name`` is its name; else a copy named ``name``."""
        made = self if name == self._name else copy.copy(self)
        made.ran_in(name, environ)
        return made

    def ran_in(self, name: str, environ: dict[str, str]) -> None:
        """Note that this instance's ``.run()`` runs as ``name`` in ``environ``."""
        self._name, self.environ = name, environ


#: The environments the ``.run()`` calls of each instance name saw so far (by definition id
#: and name; see ``as_run``), with the name each ran under.
_ran: dict[tuple[int, str], list[tuple[dict[str, str], str]]] = {}
#: Variables a ``.run()`` of this process changed as it ran (a library its steps imported set
#: one): the runs after it are not told apart by them, as discovery, which runs no step,
#: would not.
moved: set[str] = set()


def as_run(instance: Any) -> Any:
    """``instance`` as its ``.run()`` now runs it, with the environment it sees now
    (``environ``): itself, unless an earlier ``.run()`` of it (or of an instance of the same
    name) saw another environment; then a copy named after the environments seen
    (``train@env2``), the same name for the same environment. incr's own variables
    (``INCR_*``) and those in ``moved`` do not count. A pipeline defined in a notebook keeps
    its name: a cell runs again at will, after other cells set what they set."""
    env = dict(os.environ)
    from incr.notebook import is_interactive  # here: .run() alone loads it

    if is_interactive(instance.definition.func.__code__.co_filename):
        return instance.renamed(instance.name, env)
    seen = _ran.setdefault((id(instance.definition), instance.name), [])
    name = next((n for other, n in seen if _same_env(other, env)), None)
    if name is None:
        name = instance.name if not seen else _env_name(instance.name, len(seen) + 1)
        seen.append((env, name))
    return instance.renamed(name, env)


def ran(environ: dict[str, str] | None) -> None:
    """After a ``.run()`` that started with ``environ``: note in ``moved`` what it changed."""
    if environ is not None:
        now = os.environ
        moved.update(n for n in {*environ, *now} if environ.get(n) != now.get(n))


def _same_env(a: dict[str, str], b: dict[str, str]) -> bool:
    names = {*a, *b} - moved
    return all(a.get(n) == b.get(n) for n in names if not n.startswith("INCR_"))


def _env_name(name: str, number: int) -> str:
    taken = {n for runs in _ran.values() for _, n in runs}
    taken.update(n for _, made in _made.values() for _, _, n in made)
    found = f"{name}{',' if '@' in name else '@'}env{number}"
    while found in taken:
        number += 1
        found = f"{name}{',' if '@' in name else '@'}env{number}"
    return found
