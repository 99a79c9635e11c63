"""A FIX 4.4 order management system server."""

__version__ = "0.1.0"
