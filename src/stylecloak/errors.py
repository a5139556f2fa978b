"""The exceptions stylecloak raises: each message names the file and the fix."""

from __future__ import annotations


class StylecloakError(Exception):
    """Base class of every error stylecloak raises on purpose."""


class ImageError(StylecloakError):
    """An input image cannot be read, or an output cannot be written."""


class WeightsError(StylecloakError):
    """Model weights are missing, corrupt, or cannot be downloaded."""


class ConfigError(StylecloakError):
    """A setting, preset, style name or profile is invalid."""
