"""Time one ECM training step (forward + loss + backward + Adam step) against the pre-classification-only model.

Default shape: THUMOS14 (batch 16, T 750 snippets, D 2048, C 20, hidden 2048). Labels follow THUMOS14's
training split: one class per video, two classes for 13.5 % of the videos (27 of 200). The script
builds every variant's model, runs one warm-up step each (its FLOPs counted with
``torch.utils.flop_counter.FlopCounterMode``), then times ``--steps`` rounds of one step per variant,
interleaved so that load from other processes on a shared machine falls on all variants alike. It
prints seconds per step, the ``ecm`` / ``pre_only`` ratio (target ≤ 1.2) and the achieved GFLOP/s next
to a plain matmul of the model's dominant shape measured in the same run.

With ``--memory`` it measures instead the peak memory of full ECM's training step, with the post stream
in one pass (``model.post_memory_mib: null``) and bounded (the default, 512 MiB, where blocks of videos are
recomputed in the backward pass), at the THUMOS14 shape and at the ActivityNet shape (B 128, T 100, D 2048,
C 200, H 2048). Each case runs in its own process: on CPU its peak resident set size (``ru_maxrss``, which
includes the interpreter, torch and the batch; the RSS before the first step is printed too), on CUDA
``torch.cuda.max_memory_allocated``; and the fastest of ``--memory-steps`` step times.

Usage::

    python benchmarks/bench_train.py                       # THUMOS14 shape on CPU (~2-3 min on 2 cores)
    python benchmarks/bench_train.py --length 60 --dim 64 --steps 3   # small
    python benchmarks/bench_train.py --device cuda --steps 10
    python benchmarks/bench_train.py --memory              # ~25 GB of RAM for the one-pass ActivityNet case
    python benchmarks/bench_train.py --memory --shapes thumos14 --memory-steps 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ecm.losses import LossConfig, build_criterion
from ecm.model import ModelConfig, build_model

TWO_CLASS_SHARE = 27 / 200  # THUMOS14 training videos with two classes
# --memory shapes: (batch, length, classes); D = H = 2048.
SHAPES: dict[str, tuple[int, int, int]] = {"thumos14": (16, 750, 20), "activitynet": (128, 100, 200)}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_batch(
    batch: int, length: int, dim: int, classes: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features ``(B, T, D)`` and THUMOS14-like multi-hot labels ``(B, C)`` (fixed seed)."""
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(batch, length, dim, generator=gen)
    labels = torch.zeros(batch, classes)
    labels[torch.arange(batch), torch.arange(batch) % classes] = 1.0
    for i in range(round(TWO_CLASS_SHARE * batch)):
        labels[i, (i + 1) % classes] = 1.0
    return features.to(device), labels.to(device)


class Trainer:
    """One variant's model, criterion and optimizer, and its training step."""

    def __init__(
        self, variant: str, args: argparse.Namespace, device: torch.device, post_memory_mib: int | None = 512
    ) -> None:
        torch.manual_seed(16)
        cfg = ModelConfig(
            variant=variant, hidden_dim=args.hidden, train_length=args.length, post_memory_mib=post_memory_mib
        )
        self.model = build_model(cfg, num_classes=args.classes, feature_dim=args.dim).to(device).train()
        self.criterion = build_criterion(LossConfig(), variant)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4
        )

    def step(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        losses = self.criterion(self.model(features, labels), labels)
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        self.optimizer.step()


def matmul_gflops(args: argparse.Namespace, device: torch.device) -> float:
    """Best GFLOP/s of ``(B·T, D) @ (D, 3H)``, the shape of the embedding's first layer."""
    hidden = args.hidden or args.dim
    a = torch.randn(args.batch * args.length, args.dim, device=device)
    b = torch.randn(args.dim, 3 * hidden, device=device)
    a @ b
    synchronize(device)
    best, calls, elapsed = float("inf"), 1, 0.0
    while elapsed < 1.0 or calls <= 3:  # at least 3 calls, and batches long enough to time small shapes
        start = time.perf_counter()
        for _ in range(calls):
            a @ b
        synchronize(device)
        batch_time = time.perf_counter() - start
        best, elapsed, calls = min(best, batch_time / calls), elapsed + batch_time, calls * 2
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def rss_mib() -> float:
    """This process's current resident set size in MiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def one_case(args: argparse.Namespace, device: torch.device) -> None:
    """``--one-case``: full ECM's step at the given shape in this process; print a JSON line."""
    post_memory = None if args.post_memory_mib == 0 else args.post_memory_mib
    features, labels = make_batch(args.batch, args.length, args.dim, args.classes, device)
    trainer = Trainer("ecm", args, device, post_memory_mib=post_memory)
    before = rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.memory_steps):
        start = time.perf_counter()
        trainer.step(features, labels)
        synchronize(device)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    print(
        json.dumps({"seconds": min(times), "rss_before_mib": before, "peak_rss_mib": peak, "cuda_mib": cuda})
    )


def memory(args: argparse.Namespace) -> None:
    """``--memory``: every shape × {one pass, bounded}, each in a fresh process."""
    print(f"device {args.device}; full ECM, D = H = 2048; best of {args.memory_steps} step(s) per case")
    print(
        f"{'shape':>12}{'post stream':>14}{'step s':>9}{'peak RSS MiB':>14}{'RSS before':>12}{'CUDA MiB':>10}"
    )
    for shape in args.shapes.split(","):
        batch, length, classes = SHAPES[shape]
        seconds = {}
        for label, budget in (("one pass", 0), ("bounded", 512)):
            command = [
                sys.executable,
                __file__,
                "--one-case",
                f"--device={args.device}",
                f"--batch={batch}",
                f"--length={length}",
                f"--classes={classes}",
                "--dim=2048",
                "--hidden=2048",
                f"--post-memory-mib={budget}",
                f"--memory-steps={args.memory_steps}",
            ]
            if args.threads is not None:
                command.append(f"--threads={args.threads}")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{shape:>12}{label:>14}  failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            seconds[label] = row["seconds"]
            cuda = "" if row["cuda_mib"] is None else f"{row['cuda_mib']:.0f}"
            print(
                f"{shape:>12}{label:>14}{row['seconds']:>9.2f}{row['peak_rss_mib']:>14.0f}"
                f"{row['rss_before_mib']:>12.0f}{cuda:>10}"
            )
        if len(seconds) == 2:
            print(
                f"{shape:>12}  bounded / one pass step time: {seconds['bounded'] / seconds['one pass']:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--batch", type=int, default=16, help="videos per batch")
    parser.add_argument("--length", type=int, default=750, help="snippets per video (also T_train)")
    parser.add_argument("--dim", type=int, default=2048, help="feature width D")
    parser.add_argument("--classes", type=int, default=20, help="number of classes C")
    parser.add_argument("--hidden", type=int, default=None, help="embedding width H (default D)")
    parser.add_argument("--variants", default="pre_only,ecm", help="comma-separated variants to time")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--memory", action="store_true", help="measure peak memory instead (see above)")
    parser.add_argument("--shapes", default="thumos14,activitynet", help="--memory: shapes to measure")
    parser.add_argument("--memory-steps", type=int, default=1, help="--memory: steps per case")
    parser.add_argument("--one-case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--post-memory-mib", type=int, default=512, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        memory(args)
        return
    if args.steps < 1:
        parser.error("--steps must be ≥ 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.one_case:
        one_case(args, device)
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]

    features, labels = make_batch(args.batch, args.length, args.dim, args.classes, device)
    print(
        f"device {device} ({torch.get_num_threads()} threads), B {args.batch}, T {args.length}, D {args.dim}, "
        f"C {args.classes}, H {args.hidden or args.dim}, {int(labels.sum())} (video, class) pairs, "
        f"{args.steps} timed steps after 1 warm-up"
    )
    peak = matmul_gflops(args, device)
    print(
        f"plain matmul ({args.batch * args.length}×{args.dim} @ {args.dim}×{3 * (args.hidden or args.dim)}): "
        f"{peak:.1f} GFLOP/s"
    )
    trainers = {variant: Trainer(variant, args, device) for variant in variants}
    flops: dict[str, int] = {}
    for variant, trainer in trainers.items():  # warm-up step, FLOPs counted
        counter = FlopCounterMode(display=False)
        with counter:
            trainer.step(features, labels)
        synchronize(device)
        flops[variant] = counter.get_total_flops()
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    cpu_times: dict[str, list[float]] = {variant: [] for variant in variants}
    for _ in range(args.steps):  # interleaved, so that load drift on a shared machine hits every variant
        for variant, trainer in trainers.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            trainer.step(features, labels)
            synchronize(device)
            times[variant].append(time.perf_counter() - start)
            cpu_times[variant].append(time.process_time() - start_cpu)
    for variant in variants:
        mean = statistics.fmean(times[variant])
        achieved = flops[variant] / mean / 1e9
        print(
            f"{variant:>24s}: {mean:8.3f} s/step (min {min(times[variant]):.3f}; process CPU "
            f"{statistics.fmean(cpu_times[variant]):.3f} s), {flops[variant] / 1e9:.1f} GFLOP/step, "
            f"{achieved:.1f} GFLOP/s ({100 * achieved / peak:.0f}% of matmul)"
        )
    if "ecm" in times and "pre_only" in times:
        ratio = statistics.fmean(times["ecm"]) / statistics.fmean(times["pre_only"])
        ratio_min = min(times["ecm"]) / min(times["pre_only"])
        ratio_cpu = statistics.fmean(cpu_times["ecm"]) / statistics.fmean(cpu_times["pre_only"])
        verdict = "met" if ratio <= 1.2 else "MISSED"
        print(
            f"ecm / pre_only step time: {ratio:.3f} (min/min {ratio_min:.3f}, process CPU {ratio_cpu:.3f}, "
            f"FLOPs {flops['ecm'] / flops['pre_only']:.3f}); target ≤ 1.2: {verdict}"
        )


if __name__ == "__main__":
    main()
