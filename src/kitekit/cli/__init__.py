"""The ``kitekit`` command line: thin typer commands over the library, registered in :mod:`kitekit.cli.main`."""

from __future__ import annotations

__all__ = ["main", "run"]


def run(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` and return the exit code (see :func:`kitekit.cli.main.run`)."""
    from kitekit.cli.main import run as _run

    return _run(argv)


def main() -> None:
    """Console-script entry point of ``kitekit``."""
    from kitekit.cli.main import main as _main

    _main()
