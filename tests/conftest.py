"""Shared fixtures: the read-only real annotation data in ../shared and a generated tiny dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (read-only); tests that need it are skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tiny`` synthetic dataset folder (seed 0), generated once per test session. Do not modify it."""
    from ecm.data.synth_presets import preset_config, preset_structure, write_dataset

    root = tmp_path_factory.mktemp("data") / "tiny"
    write_dataset(root, preset_structure("tiny", seed=0), preset_config("tiny"), seed=0, preset="tiny")
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained for 3 epochs on ``tiny_root`` through `ecm train` (short: the mAP bar is tested elsewhere)."""
    from ecm.cli import main

    run = tmp_path_factory.mktemp("runs") / "tiny"
    args = [
        "train",
        "synthetic-tiny",
        "--out",
        str(run),
        "--set",
        f"data.root={tiny_root}",
        "--epochs",
        "3",
        "--quiet",
    ]
    assert main(args) == 0
    return run
