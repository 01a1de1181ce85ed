"""`ecm synth` and `ecm data check` through the command line: summaries, and exit 2 on each bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ecm.cli import main


def _copy(tiny_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(tiny_root, root)
    return root


def test_synth_tiny_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny"
    assert main(["synth", str(out), "--preset", "tiny", "--quiet", "--check"]) == 0
    text = capsys.readouterr().out
    assert (
        "24 videos" in text and "split test: 8 videos" in text and "feature dim: 64" in text and "ok" in text
    )


def _first(root: Path, split: str, stream: str) -> Path:
    return sorted((root / "features" / split / stream).iterdir())[0]


def _gt_edit(edit: Callable[[dict], None]) -> Callable[[Path], Path]:
    def apply(root: Path) -> Path:
        path = root / "gt.json"
        data = json.loads(path.read_text())
        edit(data["database"])
        path.write_text(json.dumps(data))
        return path

    return apply


def _first_ann(db: dict) -> dict:
    return next(iter(db.values()))["annotations"][0]


CORRUPTIONS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing flow file": (
        lambda r: (_first(r, "test", "flow").unlink(), _first(r, "test", "rgb"))[1],
        "missing",
    ),
    "extra feature file": (
        lambda r: (
            shutil.copy(_first(r, "test", "rgb"), r / "features/test/rgb/stray.npy"),
            r / "features/test/rgb/stray.npy",
        )[1],
        "extra feature file",
    ),
    "length mismatch": (
        lambda r: (np.save(p := _first(r, "test", "flow"), np.load(p)[:-3]), p)[1],
        "differ in snippet count",
    ),
    "wrong width": (
        lambda r: (np.save(p := _first(r, "train", "rgb"), np.load(p)[:, :5]), p)[1],
        "channels, expected 32",
    ),
    "integer dtype": (
        lambda r: (np.save(p := _first(r, "train", "rgb"), np.load(p).astype(np.int64)), p)[1],
        "dtype int64",
    ),
    "NaN values": (
        lambda r: (np.save(p := _first(r, "test", "rgb"), np.where(np.load(p) > 0.5, np.nan, np.load(p))), p)[
            1
        ],
        "NaN or Inf",
    ),
    "malformed json": (lambda r: ((r / "gt.json").write_text("{broken"), r / "gt.json")[1], "malformed JSON"),
    "unknown label": (
        _gt_edit(lambda db: _first_ann(db).update(label="Juggling")),
        "unknown label 'Juggling'",
    ),
    "end before start": (_gt_edit(lambda db: _first_ann(db).update(segment=[9.0, 2.0])), "before its start"),
    "id with slash": (
        lambda r: (
            (r / "split_test.txt").write_text("../escape\n" + (r / "split_test.txt").read_text()),
            r / "split_test.txt",
        )[1],
        "not a plain file name",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_check_fails_on_corrupted_copy(case: str, tiny_root: Path, tmp_path: Path) -> None:
    corrupt, message = CORRUPTIONS[case]
    root = _copy(tiny_root, tmp_path)
    culprit = corrupt(root)
    result = subprocess.run(
        [sys.executable, "-m", "ecm", "data", "check", str(root), "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if message in line]
    assert lines, result.stderr
    assert str(culprit) in lines[0] or culprit.name in lines[0]


def test_check_passes_on_untouched_copy(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(tiny_root, tmp_path)
    assert main(["data", "check", str(root), "--quiet"]) == 0


def test_synth_refuses_existing_output_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    assert main(["synth", str(out), "--preset", "tiny", "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_data_commands_do_not_import_torch() -> None:
    code = (
        "import sys; from ecm.cli import main; import ecm.data.check, ecm.data.synth_presets, ecm.data.folder; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_synth_set_overrides_a_knob_and_records_it(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    assert main(["synth", str(out), "--preset", "tiny", "--quiet", "--set", "context_strength=1.5"]) == 0
    meta = json.loads((out / "synth.json").read_text())
    assert meta["config"]["context_strength"] == 1.5
    assert meta["config"]["action_strength"] == 2.5  # the tiny preset's other knobs are kept


@pytest.mark.parametrize("knob", ["no_such_knob=1", "context_strength", "noise_smooth=wide"])
def test_synth_set_refuses_bad_knob(knob: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny"
    assert main(["synth", str(out), "--preset", "tiny", "--quiet", "--set", knob]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ecm: error:") and "--set" in err[0]
    assert not out.exists()


def test_instances_past_the_end_of_their_video_are_a_warning_with_the_overrun(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real ActivityNet annotations end up to 0.85 s after their video: usable, so a warning, not an error."""
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    gt = json.loads((root / "gt.json").read_text())
    videos = [v for v in gt["database"].values() if v["annotations"] and "duration" in v][:2]
    for video, overrun in zip(videos, (0.5, 4950.0), strict=True):
        video["annotations"][0]["segment"][1] = video["duration"] + overrun
    (root / "gt.json").write_text(json.dumps(gt))
    assert main(["data", "check", str(root)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert (
        len(err) == 1 and err[0].startswith("ecm: warning: ") and "gt.json: 2 instance(s) end after" in err[0]
    )
    assert "by 0.50 to 4950.00 s" in err[0]
