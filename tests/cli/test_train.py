"""`ecm train`: the end-to-end run beats an untrained model; run folders are protected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ecm.cli import main
from ecm.config import config_to_dict, dump_config, load_config
from ecm.data.folder import DatasetFolder
from ecm.model import build_model
from ecm.training import Trainer

TINY = "synthetic-tiny"  # a shipped recipe


def _config(root: Path, *overrides: str):  # type: ignore[no-untyped-def]
    return load_config(TINY, [f"data.root={root}", *overrides])


def test_tiny_training_beats_untrained_model(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The end-to-end run: `ecm train synthetic-tiny` must beat an untrained model by 20 points."""
    run = tmp_path / "run"
    assert main(["train", TINY, "--out", str(run), "--set", f"data.root={tiny_root}", "--quiet"]) == 0
    assert "best on test (paper protocol)" in capsys.readouterr().out
    history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, 41))
    trained = history[-1]["test"]["mAP"]["0.5"]

    config = _config(tiny_root)
    trainer = Trainer(config, tmp_path / "untrained", quiet=True)

    split = DatasetFolder(tiny_root).open_split("test")
    torch.manual_seed(config.train.seed)
    untrained = trainer.evaluate(build_model(config.model, 4, split.feature_dim), split).map_at(0.5)
    assert trained > untrained + 20.0, (trained, untrained)

    summary = json.loads((run / "summary.json").read_text())
    assert summary["last"]["epoch"] == 40
    assert summary["best_on_test"]["mAP@0.5"] >= trained
    best = torch.load(run / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
    assert best["epoch"] == summary["best_on_test"]["epoch"]
    assert best["config"] == config_to_dict(config)
    assert (run / "config.yaml").read_text() == dump_config(config)


def test_run_folder_protection(tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    args = ["train", TINY, "--out", str(run), "--set", f"data.root={tiny_root}", "--quiet"]
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert (run / "notes.txt").read_text() == "mine"
    assert main([*args, "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", TINY, "--out", str(tmp_path / "x"), "--set", "train.epochs=abc"]) == 2


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the tensorboard extra is installed: this failure cannot be provoked")
    empty = tmp_path / "mine"
    empty.mkdir()
    for out in (tmp_path / "new", empty):
        args = ["train", TINY, "--out", str(out), "--set", f"data.root={tiny_root}", "--quiet"]
        assert main([*args, "--set", "train.tensorboard=true"]) == 2
        assert "tensorboard" in capsys.readouterr().err
        # The corrected re-run finds no half-made run in its way; a folder the user made stays.
        assert not (tmp_path / "new").exists() and empty.is_dir() and not any(empty.iterdir())
