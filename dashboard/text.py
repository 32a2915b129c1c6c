"""Free text for Markdown elements: every Markdown character escaped, so it shows as typed."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:])")


def plain(text: str) -> str:
    """Return `text` with every Markdown character escaped (shown as typed, never as markup)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
