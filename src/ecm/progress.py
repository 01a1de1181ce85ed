"""Progress bars for long command-line work: tqdm on a terminal, silent otherwise or with --quiet."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, description: str, *, quiet: bool = False, unit: str = "video") -> tqdm:
    """A tqdm bar on stderr, disabled when stderr is not a terminal or ``quiet`` is set."""
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=quiet or not sys.stderr.isatty(),
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
