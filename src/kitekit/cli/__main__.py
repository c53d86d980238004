"""``python -m kitekit.cli`` runs the ``kitekit`` command."""

from kitekit.cli.main import main

main()
