"""The canonical digest of a step's facts, and what a code closure is.

A step's code is its function's AST with docstrings removed and positions dropped, plus,
transitively, every module-level function, class and constant of the project's own modules
that it refers to (``CodeClosure``, computed by ``incr.codeindex.CodeIndex`` from source text).
This module holds the values those closures are made of and kept as, without the code that
reads source: a command whose closures are all saved never loads that code.
"""

from __future__ import annotations

from dataclasses import field

from incr.digests import canonical_json, digest_bytes
from incr.digests import json_key as json_key
from incr.model import FINGERPRINT_SCHEMA, Facts
from incr.randomdraws import global_random_fix as global_random_fix
from incr.valueclass import valueclass


def fingerprint(facts: Facts) -> str:
    """The digest of everything that decides whether a step's result can be reused."""
    payload = {
        "schema": FINGERPRINT_SCHEMA,
        "code": facts.code,
        "config": facts.config,
        "inputs": facts.inputs,
        "deps": facts.deps,
    }
    return digest_bytes(canonical_json(payload).encode(), 32)


#: The name a closure lists among its consulted modules when it depends on the list of the
#: project's modules (a table filled by decorators: any module may fill it).
PROJECT_MODULES = "*project-modules*"
#: The module name under which the code index gives the closure of the statements of the
#: project's modules that change process-wide settings (``incr.processwide``).
SETTINGS = "*process-settings*"

#: The code part holding a config class's field defaults (``file:Config.<defaults>``): they
#: are config values too, so a change shows as ``config changed`` alone where the instance
#: uses the default (see ``plan.decide``).
DEFAULTS = ".<defaults>"
#: Appended to a table's or a class's code part name for the order in which the project's
#: definitions fill it (``@stage`` functions appending to ``STAGES``) or derive from it
#: (what ``__subclasses__()`` lists): a loop over it runs them in that order.
FILL_ORDER = ".<order>"

#: Bumped when what the memo holds, or how a definition is normalised, changes.
# 6: if/with tests, imports twice, a module's top-level code; 7: the names in quoted
# annotations and in pandas query strings; 8: import_module of a name computed from a known start;
# 9: a function's own names are no references (``incr.scopes``); 10: distributions asked for
# by name (``importlib.metadata.version("torch")``, ``incr.dynimport.asked_distribution``);
# 11: the methods of pyarrow's file systems among the readers (``readertable.FS_METHODS``);
# 12: the calls asking for local time among the run-time lookups (``incr.localclock``);
# 13: a definition looking its own module's names up (``globals()[name]``) imports it whole;
# 14: ... but not one storing into ``sys.modules[__name__]`` (a module-level stand-in);
# 15: a singleton made of a plain value on first use rebinds no global (``memodicts``)
MEMO_FORMAT = 15


@valueclass(frozen=True)
class CodeClosure:
    """What a step's code fingerprint is made of.

    ``parts`` maps ``PATH:NAME`` to the digest of that definition's normalised AST (``PATH:*``
    when a whole module is used as a value); ``packages`` holds the top-level names of
    third-party modules the closure imports; ``dynamic`` names run-time lookups incr cannot
    follow (``getattr(h, name) in pipelines/flow.py:load``).
    """

    parts: dict[str, str]
    packages: frozenset[str]
    dynamic: tuple[str, ...] = ()
    modules: frozenset[str] = frozenset()  # the module names consulted to compute it
    #: Calls to readers that open files in native code: (place, mode, kind, value), see
    #: ``creaders.resolve_calls``.
    readers: tuple[tuple[str, str, str, str], ...] = ()
    #: What the closure read of each project module it consulted, when that is only the
    #: module's skeleton and some definitions whole: module -> (``codeindex.skeleton_digest``,
    #: {name: raw key of the definition}). A module changed elsewhere leaves it as it is
    #: (see ``codecache.ClosureCache``). Empty when the closure read more (a table scan).
    reads: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    #: The parts the code reaches only through names modules bind by importing them at their
    #: top level (``from pipelines.consts import WIDTH``), to those names (``PATH:WIDTH`` of
    #: the importing module): the value the code reads is the one bound as that module was
    #: imported, not one set on ``consts.WIDTH`` after (``codeindex``, ``globalvalues``).
    bound: dict[str, tuple[str, ...]] = field(default_factory=dict)
