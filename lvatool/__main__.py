"""``python -m lvatool``."""

from lvatool.cli import main

main()
