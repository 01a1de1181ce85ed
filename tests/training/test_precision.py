"""Mixed precision and torch.compile: both train the tiny recipe on the CPU, float16's gradient scaler is
checkpointed so a resume is exact, and a resume may not change either (they change what is computed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ecm.config import load_config
from ecm.errors import InputError
from ecm.model import build_model
from ecm.training import Trainer
from ecm.training.precision import Precision

TINY = "synthetic-tiny"


def _config(root: Path, *overrides: str):  # type: ignore[no-untyped-def]
    return load_config(TINY, [f"data.root={root}", *overrides])


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)


def _last_map(run: Path) -> float:
    return json.loads((run / "summary.json").read_text())["last"]["mAP@0.5"]


def test_the_forward_autocasts_and_the_losses_stay_float32() -> None:
    model = build_model(load_config(TINY).model, num_classes=4, feature_dim=64)
    features, labels = torch.rand(2, 32, 64), torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 1.0, 0]])
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        with Precision(name, torch.device("cpu")).autocast():
            output = model(features, labels)
        assert output.cas.dtype == dtype
        assert all(t is None or t.dtype == torch.float32 for t in vars(output.float()).values())
    with Precision("fp32", torch.device("cpu")).autocast():
        assert model(features, labels).cas.dtype == torch.float32


def test_bf16_and_fp16_train_the_tiny_recipe(tiny_root: Path, tmp_path: Path) -> None:
    scores = {}
    for precision in ("fp32", "bf16", "fp16"):
        config = _config(tiny_root, "train.epochs=6", "train.eval_interval=6", f"train.precision={precision}")
        Trainer(config, tmp_path / precision, quiet=True).fit()
        scores[precision] = _last_map(tmp_path / precision)
        scaler = _checkpoint(tmp_path / precision)["scaler"]
        assert (precision == "fp16") == bool(scaler)  # only float16 scales its gradients
    assert scores["bf16"] > 20 and scores["fp16"] > 20, scores  # an untrained model scores 0
    assert scores["bf16"] != scores["fp32"]  # a different computation, not the same one


def test_a_float16_run_resumes_exactly_and_no_run_resumes_in_another_precision(
    tiny_root: Path, tmp_path: Path
) -> None:
    four = _config(tiny_root, "train.epochs=4", "train.eval_interval=2", "train.precision=fp16")
    Trainer(four, tmp_path / "whole", quiet=True).fit()
    two = _config(tiny_root, "train.epochs=2", "train.eval_interval=2", "train.precision=fp16")
    Trainer(two, tmp_path / "resumed", quiet=True).fit()
    Trainer(four, tmp_path / "resumed", quiet=True, resume=True).fit()
    whole, resumed = _checkpoint(tmp_path / "whole"), _checkpoint(tmp_path / "resumed")
    assert whole["scaler"] == resumed["scaler"]
    for name, value in whole["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    same = ("train.epochs=5", "train.eval_interval=2")
    for changed, change in (
        ("train.precision", ("train.precision=bf16",)),
        ("train.compile", ("train.precision=fp16", "train.compile=true")),
    ):
        with pytest.raises(InputError, match=changed.replace(".", r"\.")):
            Trainer(_config(tiny_root, *same, *change), tmp_path / "whole", quiet=True, resume=True)


def test_a_compiled_model_trains_the_tiny_recipe(tiny_root: Path, tmp_path: Path) -> None:
    """``torch.compile`` (inductor, a C++ compiler on the CPU): one epoch trains, the checkpoint holds the
    plain model's parameter names, and without dropout (inductor draws its masks from its own generator)
    the losses are the eager model's to float tolerance."""
    runs = {}
    for compile_ in (False, True):
        config = _config(
            tiny_root, "train.epochs=1", "model.dropout=0", f"train.compile={str(compile_).lower()}"
        )
        Trainer(config, tmp_path / str(compile_), quiet=True).fit()
        runs[compile_] = [
            json.loads(x) for x in (tmp_path / str(compile_) / "metrics.jsonl").read_text().splitlines()
        ]
    eager, compiled = runs[False][0]["loss"], runs[True][0]["loss"]
    assert eager.keys() == compiled.keys()
    assert all(abs(eager[k] - compiled[k]) <= 1e-3 * max(1.0, abs(eager[k])) for k in eager), (
        eager,
        compiled,
    )
    assert set(_checkpoint(tmp_path / "True")["model"]) == set(_checkpoint(tmp_path / "False")["model"])
