"""A two-stage run (teacher into RUN/teacher, then the student into RUN): stopped in either stage and
resumed, it ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ecm.cli import main
from ecm.config import load_config
from ecm.training import Trainer

TEACHER = """\
data: {root: %s}
model: {variant: ecm, hidden_dim: 32, train_length: 64, topk_ratio: 0.125}
optim: {lr: 0.001}
train: {epochs: 3, batch_size: 4, eval_interval: 3}
"""


def _sets(root: Path, recipe: Path) -> list[str]:
    return [
        f"data.root={root}",
        f"student.teacher_recipe={recipe}",
        "student.window=64",
        "student.levels=3",
        "student.hidden_dim=32",
        "train.epochs=3",
        "train.eval_interval=3",
        "optim.optimizer=adamw",
    ]


def _args(out: Path, sets: list[str], *extra: str) -> list[str]:
    args = ["train", "thumos14-two-stage", "--out", str(out), "--quiet", *extra]
    for text in sets:
        args += ["--set", text]
    return args


def _state(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    return {k: v for k, v in state["model"].items()}


class Stop(Exception):
    """The kill: raised at the start of one epoch of one stage."""


@pytest.mark.parametrize("stage", ["teacher", "student"])
def test_two_stages_resume_after_a_stop_in_either(
    stage: str, tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = tmp_path / "teacher.yaml"
    recipe.write_text(TEACHER % tiny_root)
    sets = _sets(tiny_root, recipe)
    whole = tmp_path / "whole"
    assert main(_args(whole, sets)) == 0
    assert (whole / "teacher" / "summary.json").exists() and (whole / "pseudo_labels.json").exists()

    stopped = tmp_path / "stopped"
    target = stopped / "teacher" if stage == "teacher" else stopped
    original = Trainer._epoch

    def stop_at_epoch_3(self: Trainer, epoch: int, *args, **kwargs):  # type: ignore[no-untyped-def]
        if epoch == 3 and self.run.path == target:
            raise Stop
        return original(self, epoch, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_epoch", stop_at_epoch_3)
    config = load_config("thumos14-two-stage", sets)
    with pytest.raises(Stop):
        Trainer(config, stopped, quiet=True).fit()
    monkeypatch.setattr(Trainer, "_epoch", original)
    assert not (stopped / "summary.json").exists()
    assert main(_args(stopped, sets, "--resume")) == 0
    for part in (Path("teacher"), Path(".")):
        resumed, uninterrupted = _state(stopped / part), _state(whole / part)
        assert resumed.keys() == uninterrupted.keys()
        assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed), part
