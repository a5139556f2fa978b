"""Options shared by the commands that run the optimiser (protect, check, demo)."""

from __future__ import annotations

import click

from ..config import INTENSITY, INTENSITY_LOOKS
from ..device import PRECISIONS

precision_option = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="auto",
    show_default=True,
    help="The encoders' arithmetic. auto: bf16 where the CPU (AVX-512 BF16 or AMX) or GPU computes it natively, else fp32; "
    "fp32: always (the same bytes on every CPU kind); bf16: only where native (refused elsewhere: emulated, it is about 35x slower).",
)
"""``--precision auto|fp32|bf16`` (:attr:`~stylecloak.config.CloakSettings.precision`)."""


def intensity_option(text: str):
    """``--intensity``: a name for how the cloak looks, or the preset's own name; default ``subtle``; ``text`` is its help."""
    return click.option("--intensity", type=click.Choice([*INTENSITY_LOOKS, *INTENSITY]), default="subtle", show_default=True, help=text)
