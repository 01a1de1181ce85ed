"""Checkpoints are checked as data: inference needs only the weights and what describes them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ecm.errors import InputError
from ecm.training import load_checkpoint, load_run
from ecm.training.checkpoint import INFERENCE_FIELDS, TRAINING_FIELDS


def test_a_checkpoint_without_training_state_still_localizes(tiny_run: Path, tmp_path: Path) -> None:
    full = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    slim = tmp_path / "slim.pt"
    torch.save({k: v for k, v in full.items() if k in (*INFERENCE_FIELDS, "format")}, slim)
    run = load_run(tiny_run, checkpoint=str(slim), device="cpu")
    assert run.epoch == full["epoch"] and run.class_names == tuple(full["class_names"])
    with pytest.raises(InputError, match="checkpoint has no 'optimizer'"):
        load_checkpoint(slim, TRAINING_FIELDS)  # but it cannot resume training


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("model"), "checkpoint has no 'model'"),
        (lambda s: s.update(feature_dim="64"), "'feature_dim' is a str"),
        (lambda s: s.update(epoch=True), "'epoch' is a bool"),
        (lambda s: s.update(format="other"), "not an ecm checkpoint"),
    ],
)
def test_malformed_checkpoints_are_one_clear_error(
    tiny_run: Path, tmp_path: Path, change, message: str
) -> None:  # type: ignore[no-untyped-def]
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    change(state)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(InputError, match=message):
        load_run(tiny_run, checkpoint=str(path), device="cpu")
