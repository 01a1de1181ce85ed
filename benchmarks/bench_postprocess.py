"""Time the post-processing on THUMOS14-shaped synthetic CAS (210 test videos, 20 classes).

Video lengths and frame rates come from ``TH14_video_info.json`` for the ids in ``split_test.txt``
(T = floor(duration · 25 / 16) snippets, frame_num = the file's ``num_frame``); without those files,
210 lengths are drawn around THUMOS14's (~200 s at 30 fps). Two CAS kinds are timed:

* ``smooth`` — what a trained model gives: a few action bumps on a low, slowly varying background;
* ``noisy``  — a worst case: white noise, so every threshold cuts the kept classes into many short runs.

Each video keeps 1–3 classes (p_c ≥ τ). Usage: ``python benchmarks/bench_postprocess.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ecm.postprocess import PostprocessConfig, localize_video

NUM_CLASSES = 20
DEFAULT_DATA = Path("/work/shared/data/thumos14")


def video_lengths(data: Path, rng: np.random.Generator) -> tuple[list[tuple[int, int, float]], str]:
    """``(T snippets, frame_num, fps)`` per test video, and where they came from."""
    info_file = data / "mmtad_json" / "TH14_video_info.json"
    split_file = data / "split_test.txt"
    if info_file.is_file() and split_file.is_file():
        info = json.loads(info_file.read_text())
        ids = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
        videos = []
        for vid in ids:
            meta = info.get(vid)
            if meta is None:
                continue
            duration, fps = float(meta["duration"]), float(meta["fps"])
            frames = int(meta.get("num_frame") or round(duration * fps))
            videos.append((max(1, int(duration * 25 / 16)), frames, fps))
        if videos:
            return videos, f"{info_file} ({len(videos)} of {len(ids)} test ids)"
    durations = np.clip(rng.lognormal(mean=np.log(180.0), sigma=0.7, size=210), 15.0, 5400.0)
    return [(int(d * 25 / 16), round(d * 30.0), 30.0) for d in durations], "synthetic lengths (file absent)"


def synthetic_video(num_snippets: int, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ``(C, T)`` CAS of logits and ``(C,)`` probabilities with 1–3 classes above τ = 0.25."""
    kept = rng.choice(NUM_CLASSES, size=int(rng.integers(1, 4)), replace=False)
    probs = np.full(NUM_CLASSES, 0.02 / (NUM_CLASSES - kept.size))
    probs[kept] = 0.98 / kept.size
    if kind == "noisy":
        return rng.normal(size=(NUM_CLASSES, num_snippets)), probs
    kernel = np.hanning(9) / np.hanning(9).sum()
    noise = rng.normal(size=(NUM_CLASSES, num_snippets + kernel.size - 1))
    background = np.stack([np.convolve(row, kernel, mode="valid") for row in noise]) - 2.0  # (C, T)
    t = np.arange(num_snippets)
    for c in kept:
        for _ in range(max(1, num_snippets // 60)):  # about one action per 40 s
            centre, width = rng.uniform(0, num_snippets), rng.uniform(2, 15)
            background[c] += 6.0 * np.exp(-0.5 * ((t - centre) / width) ** 2)
    return background, probs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="THUMOS14 data folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    videos, source = video_lengths(args.data, rng)
    cfg = PostprocessConfig.preset("thumos14")
    frames = np.array([v[1] for v in videos])
    print(f"videos: {len(videos)} from {source}")
    print(f"frames per video: mean {frames.mean():.0f}, max {frames.max()}; thresholds {len(cfg.thresholds)}")
    for kind in ("smooth", "noisy"):
        inputs = [synthetic_video(num_snippets, kind, rng) for num_snippets, _, _ in videos]
        for legacy in (True, False):
            run_cfg = PostprocessConfig.preset("thumos14", legacy_nms=legacy)
            times, count = [], 0
            for (cas, probs), (_, frame_num, fps) in zip(inputs, videos, strict=True):
                tick = time.perf_counter()
                dets = localize_video(cas, probs, frame_num=frame_num, fps=fps, cfg=run_cfg)
                times.append(time.perf_counter() - tick)
                count += len(dets)
            print(
                f"{kind:6s} legacy_nms={legacy!s:5s}: total {sum(times):.3f} s, "
                f"mean {1e3 * np.mean(times):.1f} ms/video, slowest {1e3 * max(times):.1f} ms, "
                f"{count} detections"
            )


if __name__ == "__main__":
    main()
