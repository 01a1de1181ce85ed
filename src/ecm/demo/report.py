"""The demo's ``report.md``: Markdown tables of mAP, frame accuracy, error diagnosis, stage times, commands.

Pure text building (no torch, no matplotlib, no files except :func:`write_report`): every table is a
function of the result objects of :mod:`ecm.evaluation`, so the same tables can serve other reports.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ecm.evaluation import DetectionResult, DiagnosisResult, tiou_key
from ecm.evaluation.diagnosis import CATEGORY_TITLES
from ecm.files import write_text
from ecm.markdown import markdown_table

_THUMOS_AVERAGES: tuple[str, ...] = ("0.1:0.5", "0.3:0.7", "0.1:0.7")


def map_table(result: DetectionResult, averages: Sequence[str] = _THUMOS_AVERAGES) -> str:
    """One row of mAP (percent) per evaluated tIoU, then the requested averages that were evaluated."""
    header = [
        "tIoU",
        *(tiou_key(t) for t in result.tious),
        *(f"avg {a}" for a in averages if a in result.averages),
    ]
    row = ["mAP (%)", *(f"{v:.2f}" for v in result.mAP)]
    row += [f"{result.averages[a]:.2f}" for a in averages if a in result.averages]
    return markdown_table(header, [row])


def diagnosis_table(diagnosis: DiagnosisResult) -> str:
    """Count, share (percent) and mAP gain if removed (points) per category (paper Table 6)."""
    rows = []
    for name, title in CATEGORY_TITLES.items():
        gain = f"{diagnosis.map_gain[name]:+.2f}" if name in diagnosis.map_gain else ""
        rows.append([title, diagnosis.counts[name], f"{diagnosis.shares[name]:.2f}", gain])
    return markdown_table(
        ["category", "predictions", "share (%)", f"mAP@{diagnosis.tiou:g} gain if removed"], rows
    )


def seconds_text(seconds: float) -> str:
    """Seconds for people: one decimal under a minute, else minutes and seconds.

    >>> seconds_text(8.25), seconds_text(75.3)
    ('8.2 s', '1 min 15 s')
    """
    if seconds < 60.0:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def command_line(argv: Sequence[str]) -> str:
    """A shell-quoted command line."""
    return " ".join(shlex.quote(str(a)) for a in argv)


@dataclass(frozen=True)
class DemoReport:
    """What ``report.md`` says (times in seconds, scores in percent).

    Attributes:
        title: first heading.
        summary: short paragraph(s) of context, Markdown.
        result: mAP of the localized split.
        frame_accuracy: percent of action snippets whose argmax kept class is right (paper Table 10).
        diagnosis: error breakdown at tIoU 0.5.
        stages: (stage name, seconds) in order.
        commands: command lines (argv) that reproduce the run stage by stage.
        plots: (caption, path relative to the report) of the CAS plots.
        facts: (name, value) rows of a small "setup" table (data size, model, epochs, …).
    """

    title: str
    summary: str
    result: DetectionResult
    frame_accuracy: float
    diagnosis: DiagnosisResult
    stages: Sequence[tuple[str, float]]
    commands: Sequence[Sequence[str]]
    plots: Sequence[tuple[str, str]] = ()
    facts: Sequence[tuple[str, str]] = ()


def render_report(report: DemoReport) -> str:
    """The Markdown text of ``report.md``."""
    total = sum(s for _, s in report.stages)
    parts = [f"# {report.title}", "", report.summary.strip(), ""]
    if report.facts:
        parts += ["## Setup", "", markdown_table(["", ""], list(report.facts), "ll"), ""]
    parts += [
        "## Detection mAP (ActivityNet protocol, percent)",
        "",
        map_table(report.result),
        "",
        f"mAP is the mean AP over the {len(report.result.class_names)} classes of the evaluated ground truth; "
        f"{report.result.num_predictions} detections scored.",
        "",
        "## Frame accuracy",
        "",
        f"**{report.frame_accuracy:.2f} %** of action snippets get the right class from the argmax of the CAS over "
        "the classes kept by τ (paper Table 10; a video with no kept class counts as wrong).",
        "",
        f"## Error diagnosis at tIoU {report.diagnosis.tiou:g}",
        "",
        f"The top 10 × instances predictions of each class ({report.diagnosis.num_predictions} of "
        f"{report.diagnosis.num_given}); their mAP@{report.diagnosis.tiou:g} is {report.diagnosis.base_map:.2f}. "
        "The last column is the mAP gained if every prediction of that type were removed.",
        "",
        diagnosis_table(report.diagnosis),
        "",
        "Every test video, its detections by error type and its CAS: open `report.html` in a browser "
        "(the page of `ecm report`).",
        "",
        "## Wall time",
        "",
        markdown_table(
            ["stage", "time"],
            [*([n, seconds_text(s)] for n, s in report.stages), ["**total**", seconds_text(total)]],
        ),
        "",
        "## Reproduce",
        "",
        "```sh",
        *(command_line(c) for c in report.commands),
        "```",
        "",
    ]
    if report.plots:
        parts += ["## Class activation sequences", ""]
        for caption, path in report.plots:
            parts += [f"**{caption}**", "", f"![{caption}]({path})", ""]
    return "\n".join(parts).rstrip() + "\n"


def write_report(path: str | os.PathLike[str], report: DemoReport) -> None:
    """Write ``report.md`` atomically."""
    write_text(path, render_report(report))
