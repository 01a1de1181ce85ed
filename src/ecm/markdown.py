"""Markdown for reports people read: GitHub-flavoured tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` holds one of ``l``/``r`` per column (default: l then r).

    >>> print(markdown_table(["model", "mAP"], [["ecm", "29.1"]]))
    | model | mAP |
    | :--- | ---: |
    | ecm | 29.1 |
    """
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(map(str, header)) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
