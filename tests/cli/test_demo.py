"""`ecm demo`: a tiny, fast end-to-end demo writes a complete report and protects foreign folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecm.cli import main


def test_tiny_demo_writes_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--preset", "tiny", "--epochs", "3", "--quiet"]) == 0
    assert "avg 0.1:0.7" in capsys.readouterr().out
    report = (out / "report.md").read_text()
    for section in (
        "## Detection mAP",
        "## Frame accuracy",
        "## Error diagnosis at tIoU 0.5",
        "## Wall time",
        "## Reproduce",
        "## Class activation sequences",
    ):
        assert section in report, section
    for command in ("ecm synth", "ecm train", "ecm localize", "ecm evaluate"):
        assert command in report, command
    for average in ("avg 0.1:0.5", "avg 0.3:0.7", "avg 0.1:0.7"):
        assert average in report
    plots = sorted((out / "plots").glob("*.png"))
    assert len(plots) == 4 and all(f"plots/{p.name}" in report for p in plots)
    results = json.loads((out / "predictions.json").read_text())["results"]
    assert sorted(results) == sorted((out / "data" / "split_test.txt").read_text().split())
    assert (out / "predictions.csv").read_text().startswith("video_id,label,score,start,end\n")
    page = (out / "report.html").read_text()
    assert "ecm report" in report and page.startswith("<!DOCTYPE html>")
    assert all(f'"id":"{vid}"' in page for vid in results)  # every test video has its row

    # A second demo in the same folder reuses the data it generated.
    assert main(["demo", "--out", str(out), "--preset", "tiny", "--epochs", "1", "--quiet"]) == 0
    assert "| data (reused) |" in (out / "report.md").read_text()


def test_demo_refuses_a_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--preset", "tiny", "--epochs", "1"]) == 2
    assert "not made by `ecm demo`" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
