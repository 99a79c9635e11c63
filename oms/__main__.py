"""``python -m oms`` is the ``oms`` command."""

from oms.cli.main import main

main()
