"""``kill -9`` at any moment: training resumes to the uninterrupted result; synth and localize leave either
their complete outputs or none, and the next run into the same place removes what the killed one staged.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ecm.data.synth_presets import preset_config, preset_structure, write_dataset


def _ecm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args], capture_output=True, text=True, timeout=300, check=False
    )


def _kill_when(args: list[str], ready: Callable[[], bool], *, timeout: float = 120.0) -> bool:
    """Start ``ecm args``, SIGKILL it as soon as ``ready()``; returns False when it finished first."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if ready():
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.005)
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _staging(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")] if folder.is_dir() else []


def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    return state["model"]


def test_train_killed_mid_run_resumes_to_the_uninterrupted_weights(tiny_root: Path, tmp_path: Path) -> None:
    common = ["synthetic-tiny", "--quiet", "--set", f"data.root={tiny_root}", "--epochs", "12"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _ecm("train", *common, "--out", str(whole)).returncode == 0

    def three_epochs() -> bool:
        metrics = killed / "metrics.jsonl"
        return metrics.exists() and len(metrics.read_text().splitlines()) >= 3

    assert _kill_when(["train", *common, "--out", str(killed)], three_epochs), (
        "training ended before the kill"
    )
    done = len((killed / "metrics.jsonl").read_text().splitlines())
    assert 3 <= done < 12
    assert _ecm("train", *common, "--out", str(killed), "--resume").returncode == 0
    for name, value in _weights(whole).items():
        assert torch.equal(value, _weights(killed)[name]), name
    lines = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == list(range(1, 13))
    assert not _staging(killed) and not _staging(killed / "checkpoints")


def test_synth_killed_while_writing_leaves_no_output_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "lite"
    assert _kill_when(
        ["synth", str(out), "--preset", "thumos14-lite", "--quiet"], lambda: bool(_staging(tmp_path))
    )
    assert not out.exists()  # the folder appears only complete
    assert _staging(tmp_path)  # what the killed process was writing is still there …
    result = _ecm("synth", str(out), "--preset", "tiny", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "left by an interrupted run" in result.stderr  # … until the next run into the same folder
    assert not _staging(tmp_path) and (out / "gt.json").is_file()


@pytest.mark.parametrize("delay", [0.8, 2.5])
def test_localize_killed_at_any_moment_writes_all_outputs_or_none(
    tiny_run: Path, tmp_path: Path, delay: float
) -> None:
    # 210 feature-only test videos of the tiny run's width: long enough to be killed while working.
    data = tmp_path / "features"
    structure = preset_structure("thumos14-lite", seed=0)
    write_dataset(
        data, structure, preset_config("thumos14-lite", feature_dim=64), seed=0, preset="thumos14-lite"
    )
    for name in ("gt.json", "classes.txt", "split_train.txt", "split_test.txt"):
        (data / name).unlink()
    out = tmp_path / "out"
    out.mkdir()
    outputs = [out / "p.json", out / "p.csv", out / "cas"]
    args = ["localize", str(tiny_run), "--data", str(data), "--quiet", "--out", str(outputs[0])]
    args += ["--csv", str(outputs[1]), "--save-cas", str(outputs[2]), "--device", "cpu"]
    start = time.monotonic()
    _kill_when(args, lambda: time.monotonic() - start > delay)
    present = [p.exists() for p in outputs]
    assert all(present) or not any(present), present
    result = _ecm(*args)
    assert result.returncode == 0, result.stderr
    assert all(p.exists() for p in outputs) and not _staging(out)
    assert len(list((out / "cas").glob("*.npy"))) == 210
