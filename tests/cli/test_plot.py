"""`ecm plot`: a PNG of one video of a trained run; unknown or unsafe video ids are one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecm.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_command_writes_png(
    tiny_root: Path, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = (tiny_root / "split_test.txt").read_text().split()[0]
    out = tmp_path / "figs" / "one.png"
    assert main(["plot", str(tiny_run), "--video", video, "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    assert main(["plot", str(tiny_run), "--video", video, "--checkpoint", "last"]) == 0
    assert (tiny_run / "plots" / f"{video}.png").read_bytes().startswith(PNG)
    for suffix, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF")):  # the format of the extension
        other = tmp_path / f"one{suffix}"
        assert main(["plot", str(tiny_run), "--video", video, "--out", str(other)]) == 0
        assert other.read_bytes().startswith(magic), suffix
    capsys.readouterr()


def test_plot_refuses_unknown_video(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.png"
    assert main(["plot", str(tiny_run), "--video", "nope", "--out", str(out)]) == 2
    assert "not in split 'test'" in capsys.readouterr().err
    assert main(["plot", str(tiny_run), "--video", "../evil", "--out", str(out)]) == 2
    assert not out.exists()
