"""Project-local helpers: editing one makes exactly the steps that use it dirty."""

ROUND_TO = 2


def scale(value: float, factor: float) -> float:
    return round(value * factor, ROUND_TO)


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), ROUND_TO) if values else 0.0


def unused(value: float) -> float:
    # No step calls this: editing it leaves every step clean.
    return value - 1
