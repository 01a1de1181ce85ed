"""The report's HTML: one self-contained file (its style, script and data inline; nothing fetched)."""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from typing import Any

from ecm.files import write_text


def _asset(name: str) -> str:
    return resources.files("ecm").joinpath("resources", "report", name).read_text(encoding="utf-8")


def render_page(data: dict[str, Any]) -> str:
    """The HTML page for the data of :func:`ecm.report.collect_report`.

    The data goes into a ``<script type="application/json">`` block with every ``<`` escaped, so no label or
    file name can end it; the script reads it with ``JSON.parse`` and inserts text only as text.
    """
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    payload = payload.replace("<", "\\u003c")
    title = html.escape(f"ecm report: {data['title']}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        '<main id="app"><noscript>This report draws its tables and timelines with JavaScript; '
        "please enable it.</noscript></main>\n"
        f'<script type="application/json" id="report-data">{payload}</script>\n'
        f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )


def write_page(path: str | os.PathLike[str], data: dict[str, Any]) -> int:
    """Write the page atomically; its size in bytes."""
    text = render_page(data)
    write_text(path, text)
    return len(text.encode("utf-8"))
