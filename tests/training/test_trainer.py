"""Configs, the training engine and `ecm train`: determinism, exact resume, checkpoints, beating chance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ecm.cli import main
from ecm.config import load_config
from ecm.errors import InputError
from ecm.training import Trainer

TINY = "synthetic-tiny"  # a shipped recipe


def _config(root: Path, *overrides: str):  # type: ignore[no-untyped-def]
    return load_config(TINY, [f"data.root={root}", *overrides])


def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    return state["model"]


def test_same_seed_same_run_and_exact_resume(tiny_root: Path, tmp_path: Path) -> None:
    config = _config(tiny_root, "train.epochs=4", "train.eval_interval=2")
    Trainer(config, tmp_path / "a", quiet=True).fit()
    Trainer(config, tmp_path / "b", quiet=True).fit()
    lines_a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    lines_b = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in lines_a]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in lines_b]
    for name, value in _weights(tmp_path / "a").items():
        assert torch.equal(value, _weights(tmp_path / "b")[name]), name

    # Interrupted after epoch 2, resumed to 4: the same final weights as the uninterrupted run.
    Trainer(_config(tiny_root, "train.epochs=2", "train.eval_interval=2"), tmp_path / "c", quiet=True).fit()
    Trainer(config, tmp_path / "c", quiet=True, resume=True).fit()
    for name, value in _weights(tmp_path / "a").items():
        assert torch.equal(value, _weights(tmp_path / "c")[name]), name
    assert len((tmp_path / "c" / "metrics.jsonl").read_text().splitlines()) == 4

    # A resumed run may change how, not what, it computes (a memory bound); not the method.
    more = _config(tiny_root, "train.epochs=5", "train.eval_interval=2", "model.post_memory_mib=1")
    Trainer(more, tmp_path / "c", quiet=True, resume=True).fit()
    with pytest.raises(InputError, match=r"model\.aggregation"):
        other = _config(tiny_root, "train.epochs=6", "model.aggregation=mean")
        Trainer(other, tmp_path / "c", quiet=True, resume=True)


def test_the_summary_reports_what_a_run_lost_after_its_best_epoch(tiny_root: Path, tmp_path: Path) -> None:
    Trainer(_config(tiny_root, "train.epochs=3", "train.eval_interval=1"), tmp_path / "run", quiet=True).fit()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    values = [
        json.loads(x)["test"]["mAP"]["0.5"]
        for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert (
        summary["best_minus_last"] == pytest.approx(max(values) - values[-1])
        and summary["best_minus_last"] >= 0
    )


def test_other_seed_differs(tiny_root: Path, tmp_path: Path) -> None:
    Trainer(_config(tiny_root, "train.epochs=1"), tmp_path / "a", quiet=True).fit()
    Trainer(_config(tiny_root, "train.epochs=1", "train.seed=1"), tmp_path / "b", quiet=True).fit()
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_validation_selected_epoch_is_reported(tiny_root: Path, tmp_path: Path) -> None:
    config = _config(tiny_root, "train.epochs=2", "data.val_fraction=0.25")
    summary = Trainer(config, tmp_path / "run", quiet=True).fit()
    assert summary.val_selected is not None and summary.best_on_test is not None
    history = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("val" in h for h in history if "test" in h)


def test_stale_synthetic_folder_is_used_with_a_warning(
    tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ecm.data.prepare import warn_if_stale_synthetic

    assert not warn_if_stale_synthetic(tiny_root, "tiny", 0)  # as generated: silent
    assert warn_if_stale_synthetic(tiny_root, "tiny", 1)  # another seed
    root = tmp_path / "old"
    assert main(["synth", str(root), "--preset", "tiny", "--quiet", "--set", "context_strength=1.5"]) == 0
    caplog.clear()
    assert warn_if_stale_synthetic(root, "tiny", 0)
    assert "context_strength 1.5 (preset: 0.8)" in caplog.text
    assert not warn_if_stale_synthetic(tmp_path, "tiny", 0)  # no synth.json: nothing to compare
