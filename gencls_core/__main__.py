"""``python -m gencls_core`` is the ``gencls`` command."""

from gencls_core.cli import main

main()
