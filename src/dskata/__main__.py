"""``python -m dskata``: the same command line as the ``dskata`` script."""

from dskata.cli import main

main()
