"""`ecm localize` end to end: train → localize → evaluate through the CLI, unannotated folders, bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecm.cli import main


def _ids(root: Path, split: str = "test") -> list[str]:
    return (root / f"split_{split}.txt").read_text().split()


def test_train_localize_evaluate(
    tiny_root: Path, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred, table, cas = tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "cas"
    args = [
        "localize",
        str(tiny_run),
        "--out",
        str(pred),
        "--csv",
        str(table),
        "--save-cas",
        str(cas),
        "--quiet",
    ]
    assert main(args) == 0
    assert "localized 8 videos" in capsys.readouterr().out

    results = json.loads(pred.read_text())["results"]
    assert sorted(results) == sorted(_ids(tiny_root))  # every test video present, even with no detection
    rows = list(csv.DictReader(table.open()))
    assert rows and list(rows[0]) == ["video_id", "label", "score", "start", "end"]
    assert len(rows) == sum(len(v) for v in results.values())
    first = next(v for v in results.values() if v)[0]
    match = next(r for r in rows if r["label"] == first["label"] and float(r["score"]) == first["score"])
    assert [float(match["start"]), float(match["end"])] == first["segment"]

    classes = (cas / "classes.txt").read_text().split()
    assert classes == (tiny_root / "classes.txt").read_text().split()
    for vid in _ids(tiny_root):
        array = np.load(cas / f"{vid}.npy")
        length = np.load(tiny_root / "features" / "test" / "rgb" / f"{vid}.npy").shape[0]
        assert array.dtype == np.float32 and array.shape == (len(classes), length)
        assert np.isfinite(array).all()

    gt = tiny_root / "gt.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--subset", "test", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert sorted(scores["mAP"]) == [f"0.{i}" for i in range(1, 10)]
    assert all(0.0 <= v <= 100.0 for v in scores["mAP"].values())
    assert set(scores["averages"]) >= {"0.1:0.5", "0.3:0.7", "0.1:0.7"}

    # Localizing again replaces the CAS folder it wrote (and only such a folder).
    assert main([*args[:-1], "--checkpoint", "last", "--quiet"]) == 0
    assert sorted(p.name for p in cas.iterdir()) == sorted(
        ["classes.txt", *(f"{v}.npy" for v in _ids(tiny_root))]
    )


def test_unannotated_feature_folder(tiny_root: Path, tiny_run: Path, tmp_path: Path) -> None:
    """The real-user case: only feature files, no gt.json, no split file, no class list."""
    folder = tmp_path / "mine"
    shutil.copytree(tiny_root / "features" / "test", folder / "features" / "test")
    pred = tmp_path / "p.json"
    assert main(["localize", str(tiny_run), "--data", str(folder), "--out", str(pred), "--quiet"]) == 0
    results = json.loads(pred.read_text())["results"]
    assert sorted(results) == sorted(_ids(tiny_root))
    labels = {d["label"] for dets in results.values() for d in dets}
    assert labels <= set((tiny_root / "classes.txt").read_text().split())
    for dets in results.values():
        for d in dets:
            assert 0.0 <= d["segment"][0] <= d["segment"][1]


def _refused(args: list[str], outputs: list[Path], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    for path in outputs:
        assert not path.exists(), path


def test_run_without_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    out = tmp_path / "p.json"
    _refused(["localize", str(tmp_path / "run"), "--out", str(out)], [out], "no checkpoint", capsys)
    _refused(
        ["localize", str(tmp_path / "run"), "--checkpoint", str(tmp_path / "x.pt"), "--out", str(out)],
        [out],
        "checkpoint not found",
        capsys,
    )


def test_features_of_another_width(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    narrow = tmp_path / "narrow"
    assert main(["synth", str(narrow), "--preset", "tiny", "--feature-dim", "32", "--quiet"]) == 0
    capsys.readouterr()
    outputs = [tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "cas"]
    args = ["localize", str(tiny_run), "--data", str(narrow), "--out", str(outputs[0])]
    args += ["--csv", str(outputs[1]), "--save-cas", str(outputs[2])]
    _refused(args, outputs, "features are 32 channels wide", capsys)


def test_dataset_with_other_classes(
    tiny_root: Path, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_root, other)
    (other / "classes.txt").write_text((tiny_root / "classes.txt").read_text() + "Shotput\n")
    out = tmp_path / "p.json"
    _refused(
        ["localize", str(tiny_run), "--data", str(other), "--out", str(out)],
        [out],
        "dataset's 5 classes are not the 4",
        capsys,
    )


def test_foreign_cas_folder_is_not_replaced(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cas = tmp_path / "cas"
    cas.mkdir()
    (cas / "notes.txt").write_text("mine")
    out = tmp_path / "p.json"
    _refused(
        ["localize", str(tiny_run), "--out", str(out), "--save-cas", str(cas)], [out], "other than", capsys
    )
    assert (cas / "notes.txt").read_text() == "mine"
