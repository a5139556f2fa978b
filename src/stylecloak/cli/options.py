"""Options that several commands share, spelt once."""

from __future__ import annotations

import click

from ..config import INTENSITY, INTENSITY_LOOKS


def intensity_option(text: str):
    """``--intensity``: a name for how the cloak looks, or the preset's own name; default ``subtle``."""
    return click.option("--intensity", type=click.Choice([*INTENSITY_LOOKS, *INTENSITY]), default="subtle", show_default=True, help=text)
