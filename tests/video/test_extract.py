"""From video files to features: timestamps resampling, flow sign and size, the extraction's files, resume,
bad files, worker processes, and `ecm localize --video` end to end. Videos are encoded here with PyAV.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from ecm.cli import main
from ecm.errors import InputError
from ecm.video.decode import probe, read_frames, resized_size
from ecm.video.extract import ExtractOptions, _flow_input, _rgb_input, frame_chunks, video_snippets
from ecm.video.flow import ChunkFlow, FlowEstimator, scale_flow
from ecm.video.i3d import I3D

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")
EXACT = "*AVX2" in cv2.getCPUFeaturesLine().split()  # where torch's TV-L1 is OpenCV's bit for bit (test_tvl1)

SMALL = ["--crop", "112", "--short-side", "128", "--flow", "farneback", "--device", "cpu", "--quiet"]


def encode(path: Path, frames: int, fps: int, size: tuple[int, int] = (160, 120)) -> Path:
    """A video of a bright square moving right by 2 pixels a frame on a dark, textured background."""
    width, height = size
    rng = np.random.default_rng(0)
    background = (rng.random((height, width, 3)) * 60).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = background.copy()
            image[40:80, 10 + 2 * i : 50 + 2 * i] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def encode_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "thirty": encode(folder / "thirty.mp4", 90, 30),  # 3 s: 75 frames at 25 fps → 4 snippets
        "exact": encode(folder / "exact.mp4", 64, 25),  # 64 frames at 25 fps → 4 snippets exactly
        "short": encode(folder / "short.mp4", 32, 25),  # 2 snippets exactly: TV-L1 at 64² in seconds
        "corrupt": _write(folder / "corrupt.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8),
        "audio": encode_audio_only(folder / "audio.m4a"),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Random I3D weights in the public naming (the converted Kinetics files load the same way)."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    rgb, flow = folder / "rgb.pt", folder / "flow.pt"
    torch.save(I3D(3).state_dict(), rgb)
    torch.save(I3D(2).state_dict(), flow)
    return rgb, flow


def test_frames_are_resampled_by_timestamps(videos: dict[str, Path]) -> None:
    info = probe(videos["thirty"])
    assert info.fps == 30 and info.duration == pytest.approx(3.0) and (info.width, info.height) == (160, 120)
    frames = np.concatenate(list(read_frames(videos["thirty"], fps=25, short_side=128, crop=112, chunk=32)))
    assert frames.shape == (75, 112, 112, 3) and frames.dtype == np.uint8
    # At 25 fps, output frame k shows source frame ⌊k · 30 / 25⌋: the square's left edge moves with it.
    left = [int(np.argmax(f[56, :, 0] > 150)) for f in frames]
    expected = [
        int(np.argmax(f[56, :, 0] > 150))
        for f in np.concatenate(list(read_frames(videos["thirty"], fps=30, short_side=128, crop=112)))
    ]
    assert left == [expected[int(k * 30 // 25)] for k in range(75)]
    assert resized_size(160, 120, 128) == (170, 128)


def test_snippet_count_and_network_input_range(videos: dict[str, Path]) -> None:
    options = ExtractOptions(crop=112, short_side=128, flow="farneback", batch=3)
    chunks = list(video_snippets(videos["exact"], options))
    rgb = np.concatenate([c[0] for c in chunks])
    flow = np.concatenate([c[1] for c in chunks if c[1] is not None])
    assert rgb.shape == (4, 16, 112, 112, 3) and flow.shape == (4, 16, 112, 112, 2)
    assert [len(c[0]) for c in chunks] == [3, 1]  # chunks of --batch snippets: memory stays bounded
    clips = _rgb_input(rgb)
    assert clips.shape == (4, 3, 16, 112, 112) and clips.min() >= -1.0 and clips.max() <= 1.0
    assert clips.min() < -0.5 and clips.max() > 0.5
    assert _flow_input(flow).abs().max() <= 1.0


def test_tvl1_flow_of_a_translating_pattern_has_the_right_sign_and_size() -> None:
    rng = np.random.default_rng(1)
    texture = rng.random((24, 24))
    image = np.kron(texture, np.ones((4, 4)))  # 96 × 96, blocks of 4 pixels
    first = (image * 255).astype(np.uint8)
    second = np.roll(first, 3, axis=1)  # everything moves 3 pixels right
    for method in ("tvl1", "farneback"):
        estimator = FlowEstimator(method)
        flow = estimator.pair(first, second)[16:-16, 16:-16]  # away from the wrapped border
        assert np.median(flow[..., 0]) == pytest.approx(3.0, abs=0.5), method
        assert abs(np.median(flow[..., 1])) < 0.5, method
    assert scale_flow(np.array([3.0])).tolist() == pytest.approx([0.15])


def test_extract_writes_resumes_and_reports_bad_files(
    videos: dict[str, Path], weights: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"

    def extract(*files: Path, out: Path = root, extra: tuple[str, ...] = ()) -> int:
        args = ["extract", *map(str, files), "--out", str(out), "--rgb-weights", str(weights[0])]
        return main([*args, "--flow-weights", str(weights[1]), *SMALL, *extra])

    assert extract(videos["thirty"], videos["exact"]) == 0
    files = {s: root / "features" / "test" / s / "thirty.npy" for s in ("rgb", "flow")}
    arrays = {s: np.load(p) for s, p in files.items()}
    assert all(
        a.shape == (4, 1024) and a.dtype == np.float32 and np.isfinite(a).all() for a in arrays.values()
    )
    info = json.loads((root / "video_info" / "thirty.json").read_text())
    assert info["duration"] == pytest.approx(4 * 16 / 25) and info["fps"] == 25
    assert info["source_duration"] == pytest.approx(3.0)
    assert main(["data", "check", str(root), "--quiet"]) == 0
    capsys.readouterr()

    # A re-run skips what is there; bad files are one line each, the others are written; exit 2.
    stamps = {p: p.stat().st_mtime_ns for p in files.values()}
    bad = (videos["corrupt"], videos["audio"], tmp_path / "missing.mp4")
    assert extract(videos["thirty"], videos["exact"], *bad) == 2
    out, err = capsys.readouterr()
    assert "0 video(s) into" in out and "2 already there, 3 failed" in out
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("ecm: error: ") for line in lines)
    assert (
        "corrupt.mp4" in lines[0]
        and "audio.m4a: has no video stream" in lines[1]
        and "missing.mp4" in lines[2]
    )
    assert {p: p.stat().st_mtime_ns for p in files.values()} == stamps

    # Deterministic, and the same from a worker process.
    again = tmp_path / "again"
    assert extract(videos["thirty"], out=again, extra=("--workers", "1")) == 0
    for stream, array in arrays.items():
        np.testing.assert_array_equal(np.load(again / "features" / "test" / stream / "thirty.npy"), array)


def test_extract_needs_weight_files(
    videos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["extract", str(videos["exact"]), "--out", str(tmp_path / "r"), *SMALL]) == 2
    assert "--rgb-weights is needed" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    args = [
        "extract",
        str(videos["exact"]),
        "--out",
        str(tmp_path / "r"),
        "--rgb-weights",
        str(bad),
        "--flow",
        "none",
    ]
    assert main([*args, "--crop", "112", "--short-side", "128", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.pt" in err
    assert not (tmp_path / "r").exists()


def test_localize_video_files_end_to_end(
    videos: dict[str, Path], weights: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny run trained on 2048-wide synthetic features localizes video files through their features."""
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["synth", str(data), "--preset", "tiny", "--feature-dim", "2048", "--quiet"]) == 0
    train = ["train", "synthetic-tiny", "--out", str(run), "--epochs", "2", "--quiet"]
    assert main([*train, "--set", f"data.root={data}", "--set", "model.hidden_dim=16"]) == 0
    pred = tmp_path / "p.json"
    args = ["localize", str(run), "--video", str(videos["thirty"]), str(videos["exact"]), "--out", str(pred)]
    args += [
        "--rgb-weights",
        str(weights[0]),
        "--flow-weights",
        str(weights[1]),
        "--csv",
        str(tmp_path / "p.csv"),
    ]
    assert main([*args, *SMALL]) == 0
    results = json.loads(pred.read_text())["results"]
    assert sorted(results) == ["exact", "thirty"]
    for detections in results.values():
        assert all(0.0 <= d["segment"][0] <= d["segment"][1] <= 4 * 16 / 25 + 1e-9 for d in detections)
    assert (run / "video_cache" / "features" / "video" / "rgb" / "thirty.npy").is_file()
    capsys.readouterr()
    plot = tmp_path / "thirty.png"
    cache = run / "video_cache"
    assert (
        main(
            [
                "plot",
                str(run),
                "--data",
                str(cache),
                "--split",
                "video",
                "--video",
                "thirty",
                "--out",
                str(plot),
            ]
        )
        == 0
    )
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_without_the_video_extra_one_line_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    assert main(["extract", str(video), "--out", str(tmp_path / "r"), "--flow", "none", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'ecm-tal[video]'" in err
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(InputError, match=r"ecm-tal\[video\]"):
        FlowEstimator("tvl1")


def test_a_changed_source_or_other_options_are_extracted_again(
    videos: dict[str, Path], weights: tuple[Path, Path], tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(videos["exact"].read_bytes())
    root = tmp_path / "root"
    args = ["extract", str(clip), "--out", str(root), "--rgb-weights", str(weights[0]), "--flow", "none"]
    small = ["--crop", "112", "--short-side", "128", "--device", "cpu", "--quiet"]
    assert main([*args, *small]) == 0
    features = root / "features" / "test" / "rgb" / "clip.npy"
    assert np.load(features).shape == (4, 1024)
    stamp = features.stat().st_mtime_ns
    assert main([*args, *small]) == 0 and features.stat().st_mtime_ns == stamp  # same file, same options
    clip.write_bytes(videos["thirty"].read_bytes())  # another video under the same name
    assert main([*args, *small]) == 0 and features.stat().st_mtime_ns != stamp
    assert json.loads((root / "video_info" / "clip.json").read_text())["source_duration"] == pytest.approx(
        3.0
    )
    assert main([*args, *small, "--snippet", "8"]) == 0  # other options: extracted again
    assert np.load(features).shape == (9, 1024)  # 75 frames → 9 snippets of 8


def test_timestamps_are_taken_from_the_first_frame_and_raw_streams_are_timed_by_rate(tmp_path: Path) -> None:
    late = tmp_path / "late.mkv"
    with av.open(str(late), "w") as container:  # a file whose first frame is shown at 2 s
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = 50 + i, __import__("fractions").Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = np.concatenate(list(read_frames(late, fps=25, short_side=48, crop=48)))
    assert len(frames) == 25  # no frozen lead-in for the 2 s before the first frame
    raw = tmp_path / "raw.h264"
    with av.open(str(raw), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.full((48, 64, 3), 5 * i, np.uint8), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert sum(len(c) for c in read_frames(raw, fps=25, short_side=48, crop=48)) == 20


def test_one_frame_snippets_with_flow(videos: dict[str, Path]) -> None:
    options = ExtractOptions(crop=112, short_side=128, flow="farneback", snippet=1, batch=16)
    chunks = list(video_snippets(videos["exact"], options))
    assert sum(len(c[0]) for c in chunks) == 64 and all(len(c[0]) <= 16 for c in chunks)


def test_extract_shards_together_cover_every_video(
    videos: dict[str, Path], weights: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    files = [str(videos["thirty"]), str(videos["exact"])]
    for i in range(2):
        args = ["extract", *files, "--out", str(root), "--rgb-weights", str(weights[0]), "--flow", "none"]
        assert main([*args, "--shard", f"{i}/2", "--crop", "112", "--short-side", "128", "--quiet"]) == 0
        assert "extracted 1 video(s)" in capsys.readouterr().out  # balanced: one video each
    assert sorted(p.stem for p in (root / "features" / "test" / "rgb").glob("*.npy")) == ["exact", "thirty"]


def test_the_tvl1_backends_give_the_same_features_and_are_recorded(
    videos: dict[str, Path], weights: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenCV's TV-L1 (in the decoding process) and torch's (batched, in the main process) give the same
    flow features; the backend is recorded, a change extracts again, and a record from before the option
    counts as OpenCV's."""
    roots = {backend: tmp_path / backend for backend in ("opencv", "torch")}
    small = ["--crop", "64", "--short-side", "64", "--device", "cpu", "--quiet"]

    def extract(backend: str, root: Path) -> int:
        args = ["extract", str(videos["short"]), "--out", str(root), "--rgb-weights", str(weights[0])]
        return main([*args, "--flow-weights", str(weights[1]), *small, "--flow-backend", backend])

    for backend, root in roots.items():
        assert extract(backend, root) == 0
        info = json.loads((root / "video_info" / "short.json").read_text())
        assert info["options"]["flow_backend"] == backend and info["rotation"] == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == ["ecm: --flow-backend torch: no CUDA device here, TV-L1 runs on the CPU"]  # once
    arrays = {b: np.load(r / "features" / "test" / "flow" / "short.npy") for b, r in roots.items()}
    assert arrays["opencv"].shape == (2, 1024)
    assert np.abs(arrays["torch"] - arrays["opencv"]).max() <= 1e-2 * np.abs(arrays["opencv"]).max()
    if EXACT:  # the flow is OpenCV's bit for bit, and so are the features
        np.testing.assert_array_equal(arrays["torch"], arrays["opencv"])

    features = roots["opencv"] / "features" / "test" / "flow" / "short.npy"
    record = roots["opencv"] / "video_info" / "short.json"
    stamp = features.stat().st_mtime_ns
    assert extract("opencv", roots["opencv"]) == 0 and features.stat().st_mtime_ns == stamp  # skipped
    old = json.loads(record.read_text())  # as written before the backend option and display rotation
    del old["options"]["flow_backend"], old["rotation"]
    record.write_text(json.dumps(old))
    assert extract("opencv", roots["opencv"]) == 0 and features.stat().st_mtime_ns == stamp  # still valid
    assert extract("torch", roots["opencv"]) == 0 and features.stat().st_mtime_ns != stamp  # extracted again
    assert json.loads(record.read_text())["options"]["flow_backend"] == "torch"


def test_chunks_carry_their_successor_and_the_last_frame_repeats_the_field_before(
    videos: dict[str, Path],
) -> None:
    """The chunk flow rule both backends share: field i is frame i → i + 1 across chunk boundaries, and a
    video's last frame repeats the field before it."""
    options = ExtractOptions(crop=64, short_side=64, flow="tvl1", batch=1)
    chunks = list(frame_chunks(videos["short"], options))  # 32 frames: 2 chunks of one snippet
    assert [c[0].shape for c in chunks] == [(1, 16, 64, 64, 3)] * 2
    assert np.array_equal(chunks[0][1], chunks[1][0][0, 0]) and chunks[1][1] is None
    frames = np.concatenate([c[0][0] for c in chunks])
    fields = {}
    for backend in ("opencv", "torch"):
        flow = ChunkFlow("tvl1", backend, torch.device("cpu"))
        if backend == "opencv":
            parts = [flow(c[0][0], c[1]) for c in chunks]
        else:
            parts = [
                flow(torch.from_numpy(c[0][0]), None if c[1] is None else torch.from_numpy(c[1]))
                for c in chunks
            ]
        fields[backend] = np.concatenate([np.asarray(p) for p in parts])
    assert fields["opencv"].shape == (32, 64, 64, 2)
    assert np.abs(fields["torch"] - fields["opencv"]).max() <= (0.0 if EXACT else 0.01)
    np.testing.assert_array_equal(fields["opencv"][-1], fields["opencv"][-2])  # the last repeats
    estimator = FlowEstimator("tvl1")
    greys = estimator.grey(frames[15:17])  # across the chunk boundary
    np.testing.assert_array_equal(fields["opencv"][15], scale_flow(estimator.pair(*greys)))


def test_extract_killed_mid_video_extracts_only_what_is_missing(
    videos: dict[str, Path], weights: tuple[Path, Path], tmp_path: Path
) -> None:
    """``kill -9`` while the second of three videos is being computed: the next run keeps the finished
    video, extracts the other two, says what it cleans up of the killed run's staging, and its features
    equal an uninterrupted run's."""
    import signal
    import subprocess
    import sys
    import time

    clips = []
    for name in ("a", "b", "c"):
        clip = tmp_path / "videos" / f"{name}.mp4"
        clip.parent.mkdir(exist_ok=True)
        clip.write_bytes(videos["short"].read_bytes())
        clips.append(clip)
    command = [sys.executable, "-m", "ecm", "extract", *map(str, clips), "--rgb-weights", str(weights[0])]
    command += ["--flow-weights", str(weights[1]), *SMALL]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert subprocess.run([*command, "--out", str(whole)], capture_output=True).returncode == 0

    process = subprocess.Popen(
        [*command, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    first = killed / "video_info" / "a.json"
    deadline = time.monotonic() + 120
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first.exists() and not (killed / "video_info" / "c.json").exists(), "killed too late to test"
    stamp = (killed / "features" / "test" / "rgb" / "a.npy").stat().st_mtime_ns
    # What a process killed while publishing video c would leave: its staged file (of a dead process).
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = killed / "features" / "test" / "rgb" / f".c.npy.{dead.stdout.strip()}.0badc0de.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half")

    again = subprocess.run([*command, "--out", str(killed)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "extracted 2 video(s)" in again.stdout and "1 already there" in again.stdout
    assert f"removed {stale}, left by an interrupted run" in again.stderr and not stale.exists()
    assert (killed / "features" / "test" / "rgb" / "a.npy").stat().st_mtime_ns == stamp  # kept, not redone
    for stream in ("rgb", "flow"):
        for name in ("a", "b", "c"):
            expected = np.load(whole / "features" / "test" / stream / f"{name}.npy")
            np.testing.assert_array_equal(
                np.load(killed / "features" / "test" / stream / f"{name}.npy"), expected
            )
