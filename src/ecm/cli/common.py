"""Printing shared by several commands (not a command itself)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecm.data.check import CheckReport

MAX_PROBLEM_LINES = 20


def print_check_report(report: CheckReport) -> int:
    """The summary on stdout, then ``ok`` or the problems on stderr; returns the exit status (0 or 2)."""
    for line in report.summary_lines():
        print(line)
    if report.ok:
        print("ok")
        return 0
    for problem in report.problems[:MAX_PROBLEM_LINES]:
        print(f"ecm: error: {problem}", file=sys.stderr)
    if len(report.problems) > MAX_PROBLEM_LINES:
        print(f"ecm: error: … and {len(report.problems) - MAX_PROBLEM_LINES} more problems", file=sys.stderr)
    return 2
