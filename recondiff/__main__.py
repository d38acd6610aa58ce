"""``python -m recondiff``: the command line."""

from recondiff.cli.main import main

main()
