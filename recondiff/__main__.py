"""``python -m recondiff``: the command line."""

from recondiff.cli.main import main

if __name__ == "__main__":  # (imported, as a child process's tools may do, it runs nothing)
    main()
