"""A local web app for stylecloak: ``stylecloak serve``, or :func:`create_app` for any ASGI server."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
