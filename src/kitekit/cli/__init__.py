"""The ``kitekit`` command line: thin commands over the library (typer + rich)."""

from kitekit.cli.main import app, main, run

__all__ = ["app", "main", "run"]
