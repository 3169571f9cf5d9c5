"""``python -m langmix`` = the ``langmix`` command."""

from langmix.cli import main

main()
