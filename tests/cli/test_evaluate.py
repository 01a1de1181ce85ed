"""`ecm evaluate` / `ecm diagnose`: output formats, defaults, and bad input ending in one line + exit 2."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecm.cli import main
from ecm.evaluation import Detection, DetectionTable, read_predictions, write_predictions

THUMOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "thumos14"
AMBIGUOUS = THUMOS / "official_annotations" / "annotations_test" / "Ambiguous_test.txt"


def write(path: Path, obj: Any) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def gt_object(subsets: tuple[str, ...] = ("test", "train")) -> dict[str, Any]:
    database = {}
    for i, subset in enumerate(subsets):
        database[f"v{i}"] = {
            "subset": subset,
            "annotations": [{"segment": ["0.0", "10.0"], "label": "A"}, {"segment": [20, 30], "label": "B"}],
        }
    return {"version": "x", "database": database}


def pred_object(*entries: dict[str, Any], vid: str = "v0") -> dict[str, Any]:
    return {"version": "x", "results": {vid: list(entries)}, "external_data": {}}


GOOD = {"label": "A", "score": 0.9, "segment": [0.0, 10.0]}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write(tmp_path / "gt.json", gt_object()), write(tmp_path / "pred.json", pred_object(GOOD))


def test_table_and_json(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = files
    status, out, _ = run(["evaluate", "--gt", str(gt), "--pred", str(pred)], capsys)
    assert status == 0
    assert "mAP" in out and "0.1:0.5 50.00" in out and "50.00" in out.splitlines()[2]

    status, out, _ = run(
        ["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", "--tiou", "0.1:0.7:0.1"], capsys
    )
    report = json.loads(out)
    assert set(report) == {"mAP", "average", "averages"}
    assert list(report["mAP"]) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]
    assert report["mAP"]["0.5"] == 50.0 and report["average"] == 50.0
    assert list(report["averages"]) == ["0.1:0.5", "0.3:0.7", "0.1:0.7"]

    status, out, _ = run(
        ["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", "--per-class", "--tiou", "0.5,0.75"],
        capsys,
    )
    report = json.loads(out)
    assert report["per_class"] == {"A": {"0.5": 100.0, "0.75": 100.0}, "B": {"0.5": 0.0, "0.75": 0.0}}
    assert report["averages"] == {}

    status, out, _ = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--per-class"], capsys)
    assert "AP per class" in out and "\nB " in out


def test_ties_official_by_default_stable_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported case: the first prediction is at tIoU 1.7 / 5.98 with both instances."""
    gt = {
        "database": {
            "v": {
                "subset": "test",
                "annotations": [
                    {"segment": [128.5, 130.2], "label": "a"},
                    {"segment": [130.3, 132.0], "label": "a"},
                ],
            }
        }
    }
    preds = pred_object(
        {"label": "a", "score": 0.96, "segment": [127.05, 133.03]},
        {"label": "a", "score": 0.38, "segment": [128.52, 130.28]},
        vid="v",
    )
    argv = ["evaluate", "--gt", str(write(tmp_path / "gt.json", gt)), "--pred"]
    argv += [str(write(tmp_path / "p.json", preds)), "--json", "--tiou", "0.1"]
    assert json.loads(run(argv, capsys)[1])["mAP"]["0.1"] == 100.0
    assert json.loads(run([*argv, "--ties", "stable"], capsys)[1])["mAP"]["0.1"] == 50.0
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--ties", "random"])
    assert exit_info.value.code == 2


def test_subset_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    pred = write(tmp_path / "pred.json", pred_object(GOOD))
    anet = write(tmp_path / "anet.json", gt_object(("training", "validation")))
    with caplog.at_level(logging.INFO):
        status, out, _ = run(["evaluate", "--gt", str(anet), "--pred", str(pred), "--json"], capsys)
    assert status == 0 and "'validation'" in caplog.text
    report = json.loads(out)
    assert (
        next(iter(report["mAP"])) == "0.5"
        and len(report["mAP"]) == 10
        and list(report["averages"]) == ["0.5:0.95"]
    )
    assert all(v == 0.0 for v in report["mAP"].values())  # v0 is a training video: a false positive

    only = write(tmp_path / "only.json", gt_object(("train",)))
    assert run(["evaluate", "--gt", str(only), "--pred", str(pred), "--json"], capsys)[0] == 0

    several = write(tmp_path / "several.json", gt_object(("train", "val")))
    status, _, err = run(["evaluate", "--gt", str(several), "--pred", str(pred)], capsys)
    assert status == 2 and "--subset" in err
    status, _, err = run(["evaluate", "--gt", str(several), "--pred", str(pred), "--subset", "nope"], capsys)
    assert status == 2 and "'nope'" in err
    assert run(["evaluate", "--gt", str(several), "--pred", str(pred), "--subset", "val"], capsys)[0] == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "malformed JSON"),
        ({"version": 1}, '"results"'),
        ({"results": []}, '"results" is not an object'),
        ({"results": {"v0": {}}}, "not a list"),
        (pred_object({"label": "A", "segment": [0, 1]}), 'has no "score"'),
        (pred_object({"label": "A", "score": 1}), 'has no "segment"'),
        (pred_object({**GOOD, "score": "high"}), "score 'high' is not a finite number"),
        (pred_object({**GOOD, "score": True}), "is not a finite number"),
        (
            '{"results": {"v0": [{"label": "A", "score": NaN, "segment": [0, 1]}]}}',
            "score nan is not a finite",
        ),
        (
            pred_object(GOOD, {**GOOD, "segment": [5, 2]}),
            "prediction 1: segment end 2.0 is before its start 5.0",
        ),
        (pred_object({**GOOD, "segment": [1]}), "is not [start, end]"),
        (pred_object({**GOOD, "label": 3}), "label 3 is not a non-empty string"),
        (pred_object(GOOD, vid="../etc"), "not a plain file name"),
        (
            pred_object({**GOOD, "label": "Zebra"}),
            "predicted label 'Zebra' is not a class of the ground truth",
        ),
    ],
)
def test_bad_predictions_end_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, problem: str
) -> None:
    gt = write(tmp_path / "gt.json", gt_object())
    pred = write(tmp_path / "pred.json", content)
    for command in ("evaluate", "diagnose"):
        status, out, err = run([command, "--gt", str(gt), "--pred", str(pred)], capsys)
        assert status == 2 and out == ""
        assert err.startswith(f"ecm: error: {pred}: ") and err.count("\n") == 1
        assert problem in err


def test_other_bad_input(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt, pred = files
    status, _, err = run(["evaluate", "--gt", str(tmp_path / "missing.json"), "--pred", str(pred)], capsys)
    assert status == 2 and "missing.json: file not found" in err
    status, _, err = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--tiou", "0.2:0.1:0.1"], capsys)
    assert status == 2 and err.startswith("ecm: error: --tiou") and err.count("\n") == 1
    status, _, err = run(["diagnose", "--gt", str(gt), "--pred", str(pred), "--tiou", "0.3,0.5"], capsys)
    assert status == 2 and "one threshold" in err
    empty = write(tmp_path / "empty.json", {"database": {"v0": {"subset": "test", "annotations": []}}})
    status, _, err = run(["evaluate", "--gt", str(empty), "--pred", str(pred)], capsys)
    assert status == 2 and "no annotated action instance" in err


def test_ignore_unknown_labels_says_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    gt = write(tmp_path / "gt.json", gt_object())
    pred = write(
        tmp_path / "pred.json", pred_object(GOOD, {**GOOD, "label": "Zebra"}, {**GOOD, "label": "Yak"})
    )
    with caplog.at_level(logging.INFO):
        status, out, _ = run(
            ["evaluate", "--gt", str(gt), "--pred", str(pred), "--ignore-unknown-labels", "--json"], capsys
        )
    assert status == 0 and "dropped 2 prediction(s)" in caplog.text
    assert json.loads(out)["mAP"]["0.5"] == 50.0


def test_diagnose(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = files
    status, out, _ = run(["diagnose", "--gt", str(gt), "--pred", str(pred)], capsys)
    assert status == 0 and "true positive" in out and "background" in out
    status, out, _ = run(
        ["diagnose", "--gt", str(gt), "--pred", str(pred), "--json", "--tiou", "0.7"], capsys
    )
    report = json.loads(out)
    assert report["tiou"] == 0.7 and report["counts"]["true_positive"] == 1 and report["base_mAP"] == 50.0


@pytest.mark.skipif(not AMBIGUOUS.exists(), reason=f"THUMOS14 annotations absent ({AMBIGUOUS})")
def test_ambiguous_spans_drop_overlapping_predictions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Ambiguous_test.txt has video_test_0000278 0.0–1.4 and 95.7–97.2
    gt = write(
        tmp_path / "gt.json",
        {
            "database": {
                "video_test_0000278": {"subset": "test", "annotations": [{"segment": [10, 20], "label": "A"}]}
            }
        },
    )
    pred = write(
        tmp_path / "pred.json",
        pred_object(
            {"label": "A", "score": 0.9, "segment": [0.5, 3]},  # overlaps an ambiguous span: a false positive
            {"label": "A", "score": 0.5, "segment": [10, 20]},
            vid="video_test_0000278",
        ),
    )
    argv = ["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", "--tiou", "0.5"]
    assert json.loads(run(argv, capsys)[1])["mAP"]["0.5"] == 50.0
    with caplog.at_level(logging.INFO):
        assert json.loads(run([*argv, "--ambiguous", str(AMBIGUOUS)], capsys)[1])["mAP"]["0.5"] == 100.0
    assert "dropped 1 prediction(s) overlapping ambiguous spans" in caplog.text


def test_prediction_file_round_trip(tmp_path: Path) -> None:
    preds = {
        "v1": [Detection("A", 0.5, 1.25, 2.5), Detection("B", 0.25, 0.0, 0.0)],
        "v2": [],
        "v0": [Detection("A", 1.0, 3.0, 4.0)],
    }
    path = tmp_path / "out" / "pred.json"
    write_predictions(path, preds)
    assert [p.name for p in path.parent.iterdir()] == ["pred.json"]  # no temporary left behind
    table = read_predictions(path)
    assert table.to_detections() == preds  # file order kept: it breaks score ties
    data = json.loads(path.read_text())
    assert set(data) == {"version", "results", "external_data"}
    write_predictions(tmp_path / "again.json", table)
    again = read_predictions(tmp_path / "again.json")
    assert isinstance(again, DetectionTable)
    np.testing.assert_array_equal(again.scores, table.scores)


def test_bad_prediction_path_message_via_subprocess(tmp_path: Path) -> None:
    """The real console entry: one line on stderr, exit 2, and no torch imported by the evaluator."""
    gt = write(tmp_path / "gt.json", gt_object())
    pred = write(tmp_path / "pred.json", pred_object({**GOOD, "score": float("nan")}))
    done = subprocess.run(
        [sys.executable, "-m", "ecm", "evaluate", "--gt", str(gt), "--pred", str(pred)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"ecm: error: {pred}: video v0 prediction 0: score nan is not a finite number"
    ]


def test_evaluation_does_not_import_torch() -> None:
    code = 'import ecm.cli.evaluate, ecm.evaluation, sys; assert "torch" not in sys.modules, "torch imported"'
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
