"""The one prepared GPU check runs on a machine without CUDA too: its CPU rows, and a line for each row that
needs a GPU, without failing. And the GPU-only tests, skipped here without CUDA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_check.py"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_the_device_check_runs_its_cpu_rows_and_names_the_gpu_rows() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines()]
    sections = {row[0] for row in rows if row}
    assert {"parity", "step", "anet", "recipe", "localize", "i3d", "tvl1", "ddp"} <= sections
    assert "FAILED" not in done.stdout and "skipped" not in done.stdout
    assert "needs a GPU" in done.stdout  # TF32 and the ActivityNet shape
    parity = [line for line in done.stdout.splitlines() if line.startswith("parity") and "fp64" in line]
    worst = max(float(part.rstrip(",")) for line in parity for part in line.split() if "e-" in part)
    assert 0 < worst < 1e-4  # float32 against the float64 reference: rounding, not a bug
    assert "max |Δparameter| 0.0e+00" in done.stdout  # DDP over one process is the plain step


@cuda
def test_cuda_tvl1_equals_the_cpu_flow() -> None:
    from ecm.video.tvl1 import tvl1_torch

    rng = np.random.default_rng(0)
    image = (rng.random((72, 88)) * 255).astype(np.uint8)
    first, second = image[4:68, 4:84], image[6:70, 7:87]
    on_cpu = tvl1_torch(first, second)
    on_gpu = tvl1_torch(first, second, device="cuda").cpu()
    assert (on_gpu - on_cpu).norm(dim=-1).mean() <= 0.05


@cuda
def test_cuda_training_in_each_precision(tiny_root: Path, tmp_path: Path) -> None:
    from ecm.config import load_config
    from ecm.training import Trainer

    for precision in ("fp32", "bf16", "fp16"):
        config = load_config(
            "synthetic-tiny", [f"data.root={tiny_root}", "train.epochs=6", f"train.precision={precision}"]
        )
        summary = Trainer(config, tmp_path / precision, quiet=True, device="cuda").fit()
        assert summary.last is not None and summary.last.value > 20, precision
