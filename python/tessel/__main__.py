"""Runs the Tessel command line: ``python3 -m tessel ...`` is the same as ``tessel ...``."""

import sys

from tessel.cli import main

if __name__ == "__main__":
    sys.exit(main())
