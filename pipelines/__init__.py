"""Example pipelines: run them with `incr repro`."""
