"""``python -m stylecloak``: the same as the ``stylecloak`` command."""

from .cli import main

main()
