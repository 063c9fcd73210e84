"""The reasons shown for what a step was seen to depend on as it ran (``LockEntry.reads``)
that changed."""

from __future__ import annotations

from incr.model import (
    ENV_PREFIX,
    EXISTS_PREFIX,
    IMPORTED_PREFIX,
    LISTING_PREFIX,
    MODULE_PREFIX,
    OUTPUT_PREFIX,
    SETS_PREFIX,
    TIMES_PREFIX,
    UNPICKLED_PREFIX,
    VALUE_PREFIX,
    Reason,
    learned_kind,
    split_import_key,
    value_name,
)


def learned_reasons(changed: dict[str, tuple[str, str]]) -> list[Reason]:
    """Reasons for the learned facts that changed: key -> (value then, value now)."""
    kinds = (Reason.READ, Reason.ENV, Reason.LISTING, Reason.TIMES, Reason.APPEARED)
    others = (Reason.VANISHED, Reason.SETS, Reason.CODE, Reason.INPUT)
    found: dict[str, list[str]] = {k: [] for k in (*kinds, *others)}
    for key in sorted(changed):
        kind = learned_kind(key)
        if kind == "env":
            found[Reason.ENV].append(key[len(ENV_PREFIX) :])
        elif kind == "import":
            module, path = split_import_key(key)
            found[Reason.READ].append(f"{path}, read when {module} is imported")
        elif kind == "listing":
            found[Reason.LISTING].append(key[len(LISTING_PREFIX) :])
        elif kind == "times":
            found[Reason.TIMES].append(key[len(TIMES_PREFIX) :])
        elif kind == "exists":  # what is there, or the size of a file the step asked it of
            (then, now), path = changed[key], key[len(EXISTS_PREFIX) :]
            what = {"file": "size", "link": "target"}.get(then[:4]) if then[:4] == now[:4] else None
            gone = Reason.VANISHED if now == "missing" else Reason.APPEARED
            found[Reason.READ if what else gone].append(f"{what} of {path}" if what else path)
        elif kind == "sets":
            found[Reason.SETS].append(value_name(key[len(SETS_PREFIX) :]))
        elif kind == "unpickled":
            module, _, name = key[len(UNPICKLED_PREFIX) :].partition(":")
            found[Reason.CODE].append(f"{name} in {module}, unpickled")
        elif kind == "value":
            name = value_name(key[len(VALUE_PREFIX) :])
            found[Reason.CODE].append(f"value of {name}, read by code unpickled")
        elif kind == "module":  # ``module:plugins/other.py``
            path = key[len(MODULE_PREFIX) :]
            name = path.rstrip("/").rpartition("/")[2].removesuffix(".py")
            found[Reason.CODE].append(f"{name}'s local code ({path})")
        elif kind == "imported":  # ``imported:pipelines.fitters.linear``
            found[Reason.CODE].append(f"{key[len(IMPORTED_PREFIX) :]}, imported by name")
        elif kind == "output":  # ``output:training.trainer:output``
            step, _, name = key[len(OUTPUT_PREFIX) :].rpartition(":")
            found[Reason.INPUT].append(f"{name} of {step}, read through Repository()")
        else:
            found[Reason.READ].append(key)
    return [Reason(kind, ", ".join(items)) for kind, items in found.items() if items]
