"""Options that act on the end of a schedule: a cosine learning rate, and an exponential moving average or
an epoch-end mean (SWA) of the weights (evaluated, localized and checkpointed in place of the trained
weights), all resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ecm.cli import main
from ecm.config import load_config
from ecm.errors import InputError
from ecm.training import Trainer

TINY = "synthetic-tiny"


def _config(root: Path, *overrides: str):  # type: ignore[no-untyped-def]
    return load_config(TINY, [f"data.root={root}", *overrides])


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)


def test_the_cosine_schedule_is_recorded_epoch_by_epoch(tiny_root: Path, tmp_path: Path) -> None:
    config = _config(tiny_root, "train.epochs=4", "train.eval_interval=4", "optim.schedule=cosine")
    Trainer(config, tmp_path / "run", quiet=True).fit()
    rates = [json.loads(x)["lr"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rates == pytest.approx([1e-3, 1e-3 * (1 + 2**-0.5) / 2, 0.5e-3, 1e-3 * (1 - 2**-0.5) / 2])
    with pytest.raises(InputError, match="lr_steps apply to the step schedule only"):
        _config(tiny_root, "optim.schedule=cosine", "optim.lr_steps=[2]")


def test_an_exponential_average_is_what_is_evaluated_checkpointed_and_resumed(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    four = _config(tiny_root, "train.epochs=4", "train.eval_interval=2", "train.ema_decay=0.9")
    Trainer(four, tmp_path / "whole", quiet=True).fit()
    state = _checkpoint(tmp_path / "whole")
    steps = state["ema_count"]
    assert steps > 4 and state["model"].keys() == state["train_model"].keys()
    assert any(not torch.equal(state["model"][k], state["train_model"][k]) for k in state["model"])

    # The average does not change the training: the trained weights are those of a run without it.
    plain = _config(tiny_root, "train.epochs=4", "train.eval_interval=2")
    Trainer(plain, tmp_path / "plain", quiet=True).fit()
    assert all(
        torch.equal(v, _checkpoint(tmp_path / "plain")["model"][k]) for k, v in state["train_model"].items()
    )

    # Resumed after epoch 2: the same average and the same trained weights.
    two = _config(tiny_root, "train.epochs=2", "train.eval_interval=2", "train.ema_decay=0.9")
    Trainer(two, tmp_path / "resumed", quiet=True).fit()
    Trainer(four, tmp_path / "resumed", quiet=True, resume=True).fit()
    resumed = _checkpoint(tmp_path / "resumed")
    assert resumed["ema_count"] == steps
    for key in ("model", "train_model"):
        assert all(torch.equal(v, resumed[key][k]) for k, v in state[key].items()), key

    # `ecm localize` uses the average: its detections score what the last evaluation scored.
    pred = tmp_path / "pred.json"
    assert main(["localize", str(tmp_path / "whole"), "--out", str(pred), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--gt", str(tiny_root / "gt.json"), "--pred", str(pred), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)["mAP"]["0.5"]
    last = json.loads((tmp_path / "whole" / "summary.json").read_text())["last"]["mAP@0.5"]
    assert scored == pytest.approx(last, abs=1e-6)


def test_weight_averaging_is_the_mean_of_the_epoch_end_weights_from_its_start_on(
    tiny_root: Path, tmp_path: Path
) -> None:
    def run(name: str, *overrides: str) -> dict:
        config = _config(tiny_root, "train.eval_interval=0", *overrides)
        Trainer(config, tmp_path / name, quiet=True).fit()
        return _checkpoint(tmp_path / name)

    three, four = run("three", "train.epochs=3"), run("four", "train.epochs=4")
    swa = run("swa", "train.epochs=4", "train.swa_start=3")
    assert swa["ema_count"] == 2
    for key, value in swa["model"].items():
        assert torch.allclose(value, (three["model"][key] + four["model"][key]) / 2, atol=1e-7), key
        assert torch.equal(swa["train_model"][key], four["model"][key]), key

    # Before its start the trained weights are what is saved; resumed there, it ends as the whole run.
    early = run("resumed", "train.epochs=2", "train.swa_start=3")
    assert early["ema_count"] == 0
    assert all(torch.equal(v, early["train_model"][k]) for k, v in early["model"].items())
    whole = _config(tiny_root, "train.eval_interval=0", "train.epochs=4", "train.swa_start=3")
    Trainer(whole, tmp_path / "resumed", quiet=True, resume=True).fit()
    resumed = _checkpoint(tmp_path / "resumed")
    assert resumed["ema_count"] == 2
    assert all(torch.equal(v, resumed["model"][k]) for k, v in swa["model"].items())
    with pytest.raises(InputError, match="exclude each other"):
        _config(tiny_root, "train.swa_start=3", "train.ema_decay=0.9")


def test_an_exponential_average_that_starts_later_leaves_the_earlier_epochs_as_they_were(
    tiny_root: Path, tmp_path: Path
) -> None:
    def run(name: str, *overrides: str) -> tuple[dict, list[dict]]:
        config = _config(tiny_root, "train.epochs=4", "train.eval_interval=1", *overrides)
        Trainer(config, tmp_path / name, quiet=True).fit()
        rows = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return _checkpoint(tmp_path / name), rows

    plain, plain_rows = run("plain")
    full, _ = run("full", "train.ema_decay=0.9")
    late, late_rows = run("late", "train.ema_decay=0.9", "train.ema_start=3")
    # Epochs 1 and 2 are scored on the trained weights, as without the average; 3 and 4 on the average,
    # which has seen the steps of epochs 3 and 4 only: half of the whole run's.
    assert [r["test"] for r in late_rows[:2]] == [r["test"] for r in plain_rows[:2]]
    assert late_rows[3]["test"] != plain_rows[3]["test"]
    assert full["ema_count"] % 2 == 0 and late["ema_count"] == full["ema_count"] // 2
    assert all(torch.equal(v, plain["model"][k]) for k, v in late["train_model"].items())
    assert any(not torch.equal(v, full["model"][k]) for k, v in late["model"].items())
    # Stopped before the average begins, or after, and resumed: the uninterrupted run's average and weights.
    for stop in (2, 3):
        early = _config(
            tiny_root,
            f"train.epochs={stop}",
            "train.eval_interval=1",
            "train.ema_decay=0.9",
            "train.ema_start=3",
        )
        Trainer(early, tmp_path / f"stop{stop}", quiet=True).fit()
        whole = _config(
            tiny_root, "train.epochs=4", "train.eval_interval=1", "train.ema_decay=0.9", "train.ema_start=3"
        )
        Trainer(whole, tmp_path / f"stop{stop}", quiet=True, resume=True).fit()
        resumed = _checkpoint(tmp_path / f"stop{stop}")
        assert resumed["ema_count"] == late["ema_count"], stop
        for key in ("model", "train_model"):
            assert all(torch.equal(v, resumed[key][k]) for k, v in late[key].items()), (stop, key)
    with pytest.raises(InputError, match=r"train\.ema_start=3 needs train\.ema_decay > 0 \(to turn"):
        _config(tiny_root, "train.ema_start=3")
    with pytest.raises(InputError, match=r"train\.ema_start must be ≥ 1"):
        _config(tiny_root, "train.ema_decay=0.9", "train.ema_start=0")
