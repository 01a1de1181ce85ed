"""Progress bars for long command-line work: tqdm on a terminal, silent otherwise or with --quiet.

tqdm is imported when the first bar is made, not with this module: command modules import
:func:`progress_bar` at start-up, and tqdm's import (~25 ms) would otherwise slow every command.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm


def progress_bar(total: int | None, description: str, *, quiet: bool = False, unit: str = "video") -> tqdm:
    """A tqdm bar on stderr, disabled when stderr is not a terminal or ``quiet`` is set."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=quiet or not sys.stderr.isatty(),
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
