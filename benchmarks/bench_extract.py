"""Time feature extraction from video: decoding, each flow backend, the I3D of each stream, the pipeline.

Encodes a synthetic 320×240, 30-fps video (a textured background panning under a moving square;
``--seconds`` long) with PyAV, then prints:

* ``decode``: frames/s decoding, resampling to 25 fps, resizing to 256 and cropping 224 (``ecm.video.decode``);
* TV-L1 at 224² in flow pairs/s: OpenCV (``cv2.optflow.DualTVL1OpticalFlow``, one pair at a time, with as
  many threads as torch) and ``ecm.video.tvl1.tvl1_torch`` on the CPU (same threads) and on CUDA when there
  is one, at each batch size of ``--cpu-batches`` / ``--cuda-batches``, with CUDA's peak memory; the
  torch flow is checked to equal OpenCV's on the timed pairs (max |difference| printed);
* ``farneback`` pairs/s; ``i3d rgb`` and ``i3d flow`` frames/s (random weights: the speed does not depend
  on them);
* the whole ``ecm extract`` pipeline in frames/s per flow backend, each in its own process (so that its
  peak resident memory, and CUDA's peak memory, are its own), on ``--device``;
* for each pipeline, a projection for THUMOS14 (the 410 validation and test videos whose durations ship
  with ecm, 2.18 M frames at 25 fps): hours = frames / the pipeline's measured rate. It is a projection
  from this machine's rates, labelled as such.

Usage: ``python benchmarks/bench_extract.py [--seconds 6] [--device auto]`` (about 5 minutes on 2 CPU
cores; ``--cpu-batches 1,8`` for less).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ecm.device import resolve_device
from ecm.video.decode import read_frames
from ecm.video.extract import ExtractOptions, extract_videos
from ecm.video.flow import FlowEstimator, grey
from ecm.video.i3d import I3D
from ecm.video.tvl1 import tvl1_torch

THUMOS14_VIDEOS = "resources/thumos14/video_info.json"


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


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def thumos14_frames() -> float:
    """Frames of THUMOS14's 410 videos at 25 fps (the durations that ship with ecm)."""
    info = json.loads(resources.files("ecm").joinpath(THUMOS14_VIDEOS).read_text())
    return sum(v["duration"] for v in info.values()) * 25.0


def flow_rows(greys: np.ndarray, args: argparse.Namespace, device: torch.device) -> None:
    """TV-L1 pairs/s: OpenCV, then torch on the CPU and on CUDA at each batch size."""
    import cv2

    cv2.setNumThreads(torch.get_num_threads())
    count = min(args.pairs, len(greys) - 1)
    firsts, seconds = greys[:count], greys[1 : count + 1]
    estimator = FlowEstimator("tvl1")
    started = time.perf_counter()
    reference = np.stack([estimator.pair(a, b) for a, b in zip(firsts, seconds, strict=True)])
    opencv = count / (time.perf_counter() - started)
    print(f"tvl1 opencv        {opencv:8.2f} pairs/s  (CPU, one pair at a time, {count} pairs)")
    targets = [(torch.device("cpu"), args.cpu_batches)]
    if device.type == "cuda":
        targets.append((device, args.cuda_batches))
    for target, batches in targets:
        one, two = torch.from_numpy(firsts).to(target), torch.from_numpy(seconds).to(target)
        tvl1_torch(one[:1], two[:1], device=target)  # warm-up
        for batch in (int(b) for b in batches.split(",")):
            reps = max(1, -(-batch // count))  # enough pairs for one full batch
            first, second = (
                one.repeat(reps, 1, 1)[: max(batch, count)],
                two.repeat(reps, 1, 1)[: max(batch, count)],
            )
            if target.type == "cuda":
                torch.cuda.reset_peak_memory_stats(target)
            synchronize(target)
            started = time.perf_counter()
            flow = tvl1_torch(first, second, device=target, batch=batch)
            synchronize(target)
            rate = len(first) / (time.perf_counter() - started)
            gap = float(np.abs(flow[:count].cpu().numpy() - reference).max())
            memory = (
                f", peak {torch.cuda.max_memory_allocated(target) / 2**20:.0f} MiB"
                if target.type == "cuda"
                else ""
            )
            print(
                f"tvl1 torch {target.type:4s} batch {batch:3d} {rate:8.2f} pairs/s  ({rate / opencv:.2f}× OpenCV; "
                f"max |flow − OpenCV's| {gap:.1e} px{memory})"
            )


def pipeline(args: argparse.Namespace) -> None:
    """``--pipeline BACKEND``: the whole extraction of the video in this process; print a JSON line."""
    device = resolve_device(args.device)
    video = Path(args.video)
    frames = sum(len(chunk) for chunk in read_frames(video, fps=25.0))
    torch.manual_seed(0)
    networks = {"rgb": I3D(3).to(device).eval(), "flow": I3D(2).to(device).eval()}
    options = ExtractOptions(batch=args.batch, flow_backend=args.pipeline, workers=args.workers)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        report = extract_videos(
            [video], root, split="test", networks=networks, options=options, device=device
        )
    seconds = time.perf_counter() - started
    assert report.written == [video.stem], report
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    print(json.dumps({"frames_per_s": frames / seconds, "peak_rss_mib": peak, "cuda_mib": cuda}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the test video (default 6)")
    parser.add_argument("--device", default="auto", help="device of I3D and the pipelines (default auto)")
    parser.add_argument("--batch", type=int, default=4, help="snippets per I3D forward (default 4)")
    parser.add_argument("--pairs", type=int, default=16, help="flow pairs timed per row (default 16)")
    parser.add_argument("--cpu-batches", default="1,4,8,16", help="torch TV-L1 batch sizes on the CPU")
    parser.add_argument(
        "--cuda-batches", default="1,2,4,8,16,32,64,128,256", help="torch TV-L1 batch sizes on CUDA"
    )
    parser.add_argument("--workers", type=int, default=0, help="decoding processes in the pipelines")
    parser.add_argument("--pipeline", help=argparse.SUPPRESS)  # one pipeline, in a child process
    parser.add_argument("--video", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline:
        pipeline(args)
        return
    device = resolve_device(args.device)
    folder = Path(tempfile.mkdtemp())
    video = encode(folder / "bench.mp4", args.seconds)
    print(
        f"video: 320×240, 30 fps, {args.seconds:g} s; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )

    started = time.perf_counter()
    frames = np.concatenate(list(read_frames(video, fps=25.0)))
    decode = len(frames) / (time.perf_counter() - started)
    print(f"decode             {decode:8.1f} frames/s  ({len(frames)} frames at 25 fps, 224²)")
    greys = grey(torch.from_numpy(frames)).numpy()
    flow_rows(greys, args, device)
    estimator = FlowEstimator("farneback")
    started = time.perf_counter()
    for first, second in itertools.pairwise(greys[:51]):
        estimator.pair(first, second)
    print(f"farneback          {min(50, len(greys) - 1) / (time.perf_counter() - started):8.1f} pairs/s")

    torch.manual_seed(0)
    for stream, channels in (("rgb", 3), ("flow", 2)):
        network = I3D(channels).to(device).eval()
        clips = torch.rand(args.batch, channels, 16, 224, 224, device=device) * 2 - 1
        with torch.inference_mode():
            network(clips[:1])  # warm-up
            synchronize(device)
            started = time.perf_counter()
            network(clips)
            synchronize(device)
        rate = args.batch * 16 / (time.perf_counter() - started)
        print(f"i3d {stream:5s}          {rate:8.1f} frames/s  (batch {args.batch} × 16 frames)")

    total = thumos14_frames()
    print(f"pipeline (each in its own process, {args.workers} decoding workers):")
    for backend in ("opencv", "torch"):
        command = [
            sys.executable,
            __file__,
            f"--pipeline={backend}",
            f"--video={video}",
            f"--device={device}",
        ]
        command += [f"--batch={args.batch}", f"--workers={args.workers}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"extract {backend:6s} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        cuda = "" if row["cuda_mib"] is None else f", CUDA peak {row['cuda_mib']:.0f} MiB"
        print(
            f"extract {backend:6s}     {row['frames_per_s']:8.2f} frames/s  (peak resident memory "
            f"{row['peak_rss_mib']:.0f} MiB{cuda}); THUMOS14 projection (not measured): "
            f"{total / row['frames_per_s'] / 3600:.1f} h for {total / 1e6:.2f} M frames"
        )


if __name__ == "__main__":
    main()
