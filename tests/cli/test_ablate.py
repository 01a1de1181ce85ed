"""`ecm ablate` and `ecm compare`: a 2-variant × 2-seed study on `tiny`, its numbers against the runs' own files."""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Any

import pytest

from ecm.cli import main
from ecm.data.annotations import load_activitynet_json
from ecm.data.folder import DatasetFolder
from ecm.evaluation import diagnose_errors, evaluate_detections, read_predictions
from ecm.structures import Detection
from ecm.studies.fusion import concatenate_detections

TINY = "synthetic-tiny"  # a shipped recipe
TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _ablate(out: Path, root: Path, *extra: str) -> int:
    return main(["ablate", TINY, "--out", str(out), "--set", f"data.root={root}", "--quiet", *extra])


@pytest.fixture(scope="module")
def study(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Study A: ecm and pre_only × seeds 0, 1 × 2 epochs, through the command line."""
    out = tmp_path_factory.mktemp("study") / "A"
    assert _ablate(out, tiny_root, "--variants", "ecm,pre_only", "--seeds", "2", "--epochs", "2") == 0
    return out


def _load(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((out / "ablation.json").read_text())
    return result


def test_study_tables_have_the_promised_structure(study: Path) -> None:
    data = _load(study)
    assert [row["key"] for row in data["rows"]] == ["pre_only", "ecm"]  # the paper's order, not the given one
    assert data["seeds"] == [0, 1] and data["epochs"] == 2 and data["selection"] == "mAP@0.5"
    for row in data["rows"]:
        assert row["kind"] == "variant" and row["runs"] == [
            f"runs/{row['key']}/seed0",
            f"runs/{row['key']}/seed1",
        ]
        last = row["metrics"]["last"]
        wanted = [f"mAP@{t:g}" for t in TIOUS[:7]] + [
            "avg@0.1:0.5",
            "avg@0.3:0.7",
            "avg@0.1:0.7",
            "frame_accuracy",
        ]
        wanted += [f"diagnosis/{c}" for c in ("true_positive", "background", "localization", "confusion")]
        for name in wanted:
            assert set(last[name]) == {"mean", "std", "n", "values"} and last[name]["n"] == 2, name
        assert set(row["metrics"]) == {"last", "best", "val"}
        assert row["metrics"]["val"] == {}  # no validation split held out
        assert row["curve"]["epochs"] == [2] and len(row["curve"]["values"]) == 2
        # One evaluated epoch: the onset is 2 exactly where that value reached 1 point; no earlier point.
        onsets = [2 if v[0] >= 1.0 else None for v in row["curve"]["values"]]
        assert row["dynamics"]["onset"] == onsets and row["dynamics"]["late_gain"]["n"] == 0
        assert row["dynamics"]["decline"]["values"] == [0.0, 0.0]  # one evaluated epoch: the best is the last
    assert data["rows"][0]["paper"] == {"mAP@0.5": 19.6, "frame_accuracy": 42.7}
    assert data["rows"][1]["paper"] == {"mAP@0.5": 29.1, "frame_accuracy": 54.3}
    text = (study / "ablation.md").read_text()
    for heading in (
        "## mAP, last epoch",
        "## Checkpoint selection, mAP@0.5",
        "## Frame accuracy and error diagnosis",
    ):
        assert heading in text
    assert "| full ECM (`ecm`) | 29.1 |" in text
    assert "| best epochs | onset | late gain | best − last |" in text
    assert (study / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_study_numbers_equal_those_of_the_individual_runs(study: Path, tiny_root: Path) -> None:
    data = _load(study)
    ground_truth = load_activitynet_json(tiny_root / "gt.json")
    for row in data["rows"]:
        last, best = row["metrics"]["last"], row["metrics"]["best"]
        for i, seed in enumerate((0, 1)):
            run = study / "runs" / row["key"] / f"seed{seed}"
            summary = json.loads((run / "summary.json").read_text())
            history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            # The trainer's own last-epoch and best-on-test scores.
            assert (
                last["mAP@0.5"]["values"][i]
                == summary["last"]["mAP@0.5"]
                == history[-1]["test"]["mAP"]["0.5"]
            )
            assert best["mAP@0.5"]["values"][i] == summary["best_on_test"]["mAP@0.5"]
            assert row["curve"]["values"][i] == [history[-1]["test"]["mAP"]["0.5"]]
            # Re-scored from the saved detections, independently of the study code.
            detections = read_predictions(run / "detections_last.json")
            result = evaluate_detections(ground_truth, detections, TIOUS, subset="test")
            for t in TIOUS:
                assert last[f"mAP@{t:g}"]["values"][i] == pytest.approx(result.map_at(t), abs=1e-9)
            assert last["avg@0.1:0.7"]["values"][i] == pytest.approx(result.averages["0.1:0.7"], abs=1e-9)
            diagnosis = diagnose_errors(ground_truth, detections, 0.5, subset="test")
            for name, share in diagnosis.shares.items():
                assert last[f"diagnosis/{name}"]["values"][i] == pytest.approx(share, abs=1e-9)
            evaluation = json.loads((run / "evaluation_last.json").read_text())
            assert last["frame_accuracy"]["values"][i] == evaluation["frame_accuracy"]
        # mean ± sample std by hand
        for name, stats in last.items():
            assert stats["mean"] == pytest.approx(statistics.fmean(stats["values"])), name
            assert stats["std"] == pytest.approx(statistics.stdev(stats["values"])), name


def test_rerun_skips_finished_runs(study: Path, tiny_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = [p for p in (study / "runs").rglob("*") if p.is_file()]
    stamps = {p: p.stat().st_mtime_ns for p in files}
    before = _load(study)
    with caplog.at_level(logging.INFO, logger="ecm.studies.runner"):
        assert _ablate(study, tiny_root, "--variants", "pre_only,ecm", "--seeds", "2", "--epochs", "2") == 0
    assert sum("skip finished run" in r.getMessage() for r in caplog.records) == 4
    assert {p: p.stat().st_mtime_ns for p in files} == stamps  # nothing retrained or re-evaluated
    assert _load(study)["rows"] == before["rows"]


def test_an_interrupted_study_resumes(
    tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, run = tmp_path / "S", tmp_path / "S" / "runs" / "pre_only" / "seed0"
    assert _ablate(out, tiny_root, "--variants", "pre_only", "--seeds", "0,", "--epochs", "1") == 0
    (run / "summary.json").unlink()  # as if killed after the last checkpoint, before the summary
    with caplog.at_level(logging.INFO, logger="ecm.studies.runner"):
        assert _ablate(out, tiny_root, "--variants", "pre_only", "--seeds", "0,", "--epochs", "2") == 0
    assert [r.getMessage() for r in caplog.records if "run " in r.getMessage()] == [f"resume run {run}"]
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    evaluation = json.loads((run / "evaluation_last.json").read_text())
    assert evaluation["epoch"] == 2 and _load(out)["rows"][0]["metrics"]["last"]["mAP@0.5"]["std"] is None


def test_a_run_with_another_config_is_refused(
    study: Path, tiny_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--variants", "pre_only", "--seeds", "2", "--epochs", "2", "--set", "optim.lr=0.01")
    assert _ablate(study, tiny_root, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "optim.lr" in err and "shares one config" in err


def test_unknown_variant_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _ablate(tmp_path / "S", tmp_path, "--variants", "ecm,bogus") == 2
    err = capsys.readouterr().err
    assert err.startswith("ecm: error:") and "bogus" in err and err.count("\n") == 1
    assert not (tmp_path / "S").exists()
    assert _ablate(tmp_path / "S", tmp_path, "--variants", "ecm", "--fusion") == 2
    assert "pre_only and post_only" in capsys.readouterr().err


def test_compare_two_studies_pairs_by_seed(
    study: Path, tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "B"
    assert _ablate(other, tiny_root, "--variants", "pre_only", "--seeds", "2", "--epochs", "1") == 0
    capsys.readouterr()
    assert main(["compare", str(study), str(other), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"key": "train.epochs", "A": 2, "B": 1} in report["config_differences"]
    (row,) = report["rows"]  # ecm is only in A
    a = _load(study)["rows"][0]["metrics"]["last"]["mAP@0.5"]["values"]
    b = _load(other)["rows"][0]["metrics"]["last"]["mAP@0.5"]["values"]
    differences = [y - x for x, y in zip(a, b, strict=True)]
    assert row["key"] == "pre_only" and row["seeds"] == [0, 1]
    assert row["differences"] == pytest.approx(differences)
    assert row["mean"] == pytest.approx(statistics.fmean(differences))
    assert row["std"] == pytest.approx(statistics.stdev(differences))

    assert main(["compare", str(study), str(other), "--protocol", "best", "--metric", "avg@0.1:0.7"]) == 0
    out = capsys.readouterr().out
    assert "avg@0.1:0.7, best on test" in out and "pre_only" in out and "note:" not in out
    assert main(["compare", str(study), str(other), "--metric", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert main(["compare", str(study), str(tmp_path / "missing")]) == 2
    assert "ablation.json" in capsys.readouterr().err

    # a differently named pair (A's ecm against B's pre_only) and both studies' curves in one figure
    plot = tmp_path / "curves.png"
    argv = ["compare", str(study), str(other), "--json", "--pair", "ecm:pre_only", "--plot", str(plot)]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["key"] for r in rows] == ["pre_only", "ecm → pre_only"]
    ecm_a = _load(study)["rows"][1]["metrics"]["last"]["mAP@0.5"]["values"]
    assert _load(study)["rows"][1]["key"] == "ecm"
    assert rows[1]["differences"] == pytest.approx([y - x for x, y in zip(ecm_a, b, strict=True)])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", str(study), str(other), "--pair", "ecm:post_only"]) == 2
    assert "no row 'post_only'" in capsys.readouterr().err
    assert main(["compare", str(study), str(other), "--pair", "ecm"]) == 2


def test_parallel_jobs_train_the_same_runs(study: Path, tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "parallel"
    args = ("--variants", "pre_only", "--seeds", "2", "--epochs", "2", "--jobs", "2")
    assert _ablate(out, tiny_root, *args) == 0
    for seed in (0, 1):
        ours, theirs = (
            [
                json.loads(x)
                for x in (d / "runs/pre_only" / f"seed{seed}/metrics.jsonl").read_text().splitlines()
            ]
            for d in (out, study)
        )
        assert len(ours) == len(theirs) == 2
        for a, b in zip(ours, theirs, strict=True):
            # Worker processes use their own torch thread count, so equal up to float reordering.
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
            assert a.get("test", {}).get("mAP") == pytest.approx(b.get("test", {}).get("mAP"), abs=1e-6)
        assert "test" in ours[-1]


def test_jobs_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ablate", TINY, "--out", str(tmp_path / "s"), "--jobs", "0"]) == 2
    assert "--jobs must be ≥ 1" in capsys.readouterr().err


def test_fusion_rows_in_a_study(tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "S"
    args = [
        "ablate",
        TINY,
        "--out",
        str(out),
        "--variants",
        "post_only,pre_only",
        "--seeds",
        "1",
        "--epochs",
        "1",
    ]
    assert main([*args, "--set", f"data.root={tiny_root}", "--quiet"]) == 0
    study = json.loads((out / "ablation.json").read_text())
    keys = [row["key"] for row in study["rows"]]
    assert keys == [
        "pre_only",
        "post_only",
        "fusion:concat",
        *(f"fusion:wsum_{w}" for w in (0.2, 0.4, 0.6, 0.8)),
    ]
    rows = {row["key"]: row for row in study["rows"]}
    assert rows["fusion:concat"]["paper"]["mAP@0.5"] == 21.4
    assert rows["fusion:wsum_0.4"]["paper"]["mAP@0.5"] is None  # no published number available to us
    assert rows["fusion:concat"]["metrics"]["last"]["frame_accuracy"]["values"] == [None]  # no CAS to score
    assert rows["fusion:wsum_0.2"]["metrics"]["last"]["frame_accuracy"]["n"] == 1
    assert "two separate classifiers, detections concatenated + NMS" in capsys.readouterr().out

    # The fused detections are the concatenation of the two runs' saved detections; the row scores them.
    def saved(path: Path) -> dict[str, list[Detection]]:
        return read_predictions(path).to_detections()

    pre = saved(out / "runs" / "pre_only" / "seed0" / "detections_last.json")
    post = saved(out / "runs" / "post_only" / "seed0" / "detections_last.json")
    names = DatasetFolder(tiny_root).class_index.names
    expected = concatenate_detections(pre, post, nms_threshold=0.6, legacy_nms=True, class_names=names)
    concat = saved(out / "fusion" / "seed0" / "concat.json")
    assert concat == expected
    result = evaluate_detections(load_activitynet_json(tiny_root / "gt.json"), concat, (0.5,), subset="test")
    assert rows["fusion:concat"]["metrics"]["last"]["mAP@0.5"]["values"] == [
        pytest.approx(result.map_at(0.5))
    ]


def test_a_damaged_cached_evaluation_is_recomputed(
    tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, run = tmp_path / "S", tmp_path / "S" / "runs" / "pre_only" / "seed0"
    assert _ablate(out, tiny_root, "--variants", "pre_only", "--seeds", "0,", "--epochs", "1") == 0
    wanted = json.loads((run / "evaluation_last.json").read_text())
    (run / "evaluation_last.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="ecm.studies.runner"):
        assert _ablate(out, tiny_root, "--variants", "pre_only", "--seeds", "0,", "--epochs", "1") == 0
    assert any("recomputing" in r.getMessage() for r in caplog.records)
    again = json.loads((run / "evaluation_last.json").read_text())
    assert {k: v for k, v in again.items() if k != "stamp"} == {
        k: v for k, v in wanted.items() if k != "stamp"
    }
