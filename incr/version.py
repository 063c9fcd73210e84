"""The version of incr; part of every cache key, so an upgrade invalidates cleanly."""

__version__ = "0.1.0"
