"""``python -m tunetrack.cli``: the console script."""

from tunetrack.cli import main

main()
