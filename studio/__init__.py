"""Neural Media Studio engine: plain Python + numpy, no Qt."""

__version__ = "0.1.0"
