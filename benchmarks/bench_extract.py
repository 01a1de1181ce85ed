"""Time feature extraction from video on this machine: decoding, flow, and the I3D of each stream.

Encodes a synthetic 320×240, 30-fps video (a moving textured square; ``--seconds`` long) with PyAV, then
prints frames per second for:

* ``decode``: decoding, resampling to 25 fps, resizing to 256 and cropping 224 (``ecm.video.decode``);
* ``tvl1`` and ``farneback``: optical flow between consecutive 224² greyscale frames;
* ``i3d rgb`` and ``i3d flow``: the network's forward on 16-frame 224² snippets, batched (random weights:
  the speed does not depend on them);
* ``extract``: the whole ``ecm extract`` pipeline with TV-L1, in one process, and its peak resident memory.

From these it projects CPU-hours for THUMOS14 (the 410 validation and test videos whose durations ship
with ecm, at 25 fps) — a projection from this machine's rates, labelled as such. Usage:
``python benchmarks/bench_extract.py [--seconds 8] [--device auto]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ecm.device import resolve_device
from ecm.video.decode import read_frames
from ecm.video.extract import ExtractOptions, extract_videos
from ecm.video.flow import FlowEstimator
from ecm.video.i3d import I3D


def encode(path: Path, seconds: float, fps: int = 30) -> Path:
    import av

    rng = np.random.default_rng(0)
    background = (rng.random((240, 320, 3)) * 120).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(int(seconds * fps)):
            image = np.roll(background, 2 * i, axis=1)
            image[80:160, (3 * i) % 280 : (3 * i) % 280 + 40] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} frames/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the test video (default 8)")
    parser.add_argument("--device", default="auto", help="device of the I3D forward (default auto)")
    parser.add_argument("--batch", type=int, default=4, help="snippets per I3D forward (default 4)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    folder = Path(tempfile.mkdtemp())
    video = encode(folder / "bench.mp4", args.seconds)
    print(
        f"video: 320×240, 30 fps, {args.seconds:g} s; torch {torch.__version__}, {torch.get_num_threads()} threads, {device}"
    )

    started = time.perf_counter()
    frames = np.concatenate(list(read_frames(video, fps=25.0)))
    decode = time.perf_counter() - started
    print(f"decode    {rate(len(frames), decode)}  ({len(frames)} frames at 25 fps, 224²)")

    rates = {"decode": len(frames) / decode}
    for method in ("tvl1", "farneback"):
        estimator = FlowEstimator(method)  # type: ignore[arg-type]
        greys = estimator.grey(frames[:50])
        started = time.perf_counter()
        for first, second in itertools.pairwise(greys):
            estimator.pair(first, second)
        seconds = time.perf_counter() - started
        rates[method] = (len(greys) - 1) / seconds
        print(f"{method:9s} {rate(len(greys) - 1, seconds)}")

    torch.manual_seed(0)
    for stream, channels in (("rgb", 3), ("flow", 2)):
        network = I3D(channels).to(device).eval()
        clips = torch.rand(args.batch, channels, 16, 224, 224, device=device) * 2 - 1
        with torch.inference_mode():
            network(clips[:1])  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            network(clips)
            if device.type == "cuda":
                torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        rates[f"i3d {stream}"] = args.batch * 16 / seconds
        print(f"i3d {stream:5s} {rate(args.batch * 16, seconds)}  (batch {args.batch} × 16 frames)")

    networks = {"rgb": I3D(3).to(device).eval(), "flow": I3D(2).to(device).eval()}
    started = time.perf_counter()
    report = extract_videos(
        [video],
        folder / "root",
        split="test",
        networks=networks,
        options=ExtractOptions(batch=args.batch),
        device=device,
    )
    seconds = time.perf_counter() - started
    assert report.written == ["bench"], report
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"extract   {rate(len(frames), seconds)}  (TV-L1, one process; peak resident memory {peak:.0f} MiB)"
    )

    info = json.loads(resources.files("ecm").joinpath("resources", "thumos14", "video_info.json").read_text())
    total = sum(v["duration"] for v in info.values()) * 25.0
    per_frame = sum(1.0 / rates[k] for k in ("decode", "tvl1", "i3d rgb", "i3d flow"))
    print(
        f"projection (from the rates above, not measured on THUMOS14): its {len(info)} videos hold "
        f"{total / 1e6:.2f} M frames at 25 fps → {total * per_frame / 3600:.1f} CPU-hours here with TV-L1 "
        f"(flow {total / rates['tvl1'] / 3600:.1f} h, I3D {total * (1 / rates['i3d rgb'] + 1 / rates['i3d flow']) / 3600:.1f} h, "
        f"decoding {total / rates['decode'] / 3600:.1f} h); with Farnebäck "
        f"{total * (per_frame - 1 / rates['tvl1'] + 1 / rates['farneback']) / 3600:.1f} h"
    )


if __name__ == "__main__":
    main()
