"""Parsers: wire bytes in, :class:`~tickforge.hdl.layouts.ParsedMessage` out."""

from .itch import ITCHParser


__all__ = ["ITCHParser"]
