"""Options shared by the commands, and makers of the options that recur in one shape."""

from __future__ import annotations

from collections.abc import Iterable

import click

from ..config import INTENSITY, INTENSITY_LOOKS
from ..device import PRECISIONS


def choice_option(flag: str, choices: Iterable[str], default: str, text: str):
    """``flag``: one of ``choices`` (a dict gives its keys), default ``default`` (shown in --help); ``text`` is its help."""
    return click.option(flag, type=click.Choice(list(choices)), default=default, show_default=True, help=text)


def budget_option(flag: str, default: int, text: str):
    """``flag``: a whole number, default ``default`` (shown in --help), e.g. a countermeasure's training budget; ``text`` is its help."""
    return click.option(flag, type=int, default=default, show_default=True, help=text)


precision_option = choice_option(
    "--precision",
    PRECISIONS,
    "auto",
    "The encoders' arithmetic. auto: bf16 where the CPU (AVX-512 BF16 or AMX) or GPU computes it natively, else fp32; "
    "fp32: always (the same bytes on every CPU kind); bf16: only where native (refused elsewhere: emulated, it is about 35x slower).",
)
"""``--precision auto|fp32|bf16`` (:attr:`~stylecloak.config.CloakSettings.precision`)."""


def intensity_option(text: str):
    """``--intensity``: a name for how the cloak looks, or the preset's own name; default ``subtle``; ``text`` is its help."""
    return choice_option("--intensity", [*INTENSITY_LOOKS, *INTENSITY], "subtle", text)
