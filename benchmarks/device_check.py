"""The GPU path in one call: parity, speed and memory of everything `ecm` runs on a device, one table.

Prepared to run in a single call of at most 8 minutes on one GPU (it stops starting rows after
``--budget`` seconds, 420 by default, and says which it skipped). Rows, in order:

* **parity** — per model variant, the device in float32 (TF32 off) against a float64 CPU reference from
  the same weights on a small batch: the forward's outputs, the four losses and every gradient (largest
  relative difference); the memory-bounded post stream against one pass on the device, dropout on;
* **step** — one THUMOS14-shape training step (B 16, T 750, D = H = 2048, C 20): fp32, TF32, bf16 and fp16,
  eager, and at the end of the run compiled: seconds per step (median of ``--steps`` after warm-up, which
  includes the compilation) and peak device memory;
* **anet** — the ActivityNet-shape step (B 128, T 100, C 200, width 2048), post stream bounded and in one
  pass: seconds and peak memory;
* **recipe** — ``synthetic-thumos14`` (D 2048) trained for ``--epochs`` epochs, evaluated once: seconds
  per epoch and the projection to the recipe's 150, labelled as a projection;
* **localize** — videos/s of the forward and post-processing over that dataset's 210 test videos;
* **i3d** — snippets/s of each stream (16 frames of 224²); **tvl1** — flow pairs/s at 224² per backend;
* **ddp** — a one-process DistributedDataParallel step (NCCL on CUDA, gloo on the CPU) against the plain
  step from the same weights: largest parameter difference.

Without CUDA it runs every row it can on the CPU (at reduced shapes, labelled) and prints which rows need a
GPU; it never fails for lack of one. ``--quick`` shrinks everything to seconds (the test suite runs it).
Usage: ``python benchmarks/device_check.py [--device cuda] [--quick]``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ecm.config import load_config
from ecm.device import tf32
from ecm.losses import LossConfig, build_criterion
from ecm.model import ModelConfig, build_model
from ecm.training.precision import Precision

CHECKED_VARIANTS = (
    "ecm",
    "pre_only",
    "post_only",
    "no_c2c",
    "no_a2c+no_c2c",
    "no_transition+no_a2c+no_c2c",
    "separate_classifiers",
    "class_agnostic_weights",
)


@dataclass(frozen=True)
class Shape:
    """A training step's shape: videos, snippets, feature width = hidden width, classes."""

    batch: int
    length: int
    width: int
    classes: int

    def __str__(self) -> str:
        return f"B {self.batch}, T {self.length}, D = H = {self.width}, C {self.classes}"


class Table:
    """Rows printed as they come (a killed run keeps what it printed), within a time budget."""

    def __init__(self, budget: float) -> None:
        self.started, self.budget = time.perf_counter(), budget
        print(f"{'section':<9} {'row':<44} {'value':<30} note")

    def row(self, section: str, name: str, value: str, note: str = "") -> None:
        print(f"{section:<9} {name:<44} {value:<30} {note}", flush=True)

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def guarded(self, section: str, name: str, work: Callable[[], None]) -> None:
        """Run ``work`` unless the budget is spent; a failure becomes a row, not a crash."""
        if self.left() <= 0:
            self.row(section, name, "skipped", "time budget spent")
            return
        try:
            work()
        except Exception as exc:  # one broken row must not hide the others
            self.row(section, name, "FAILED", f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mib(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB" if device.type == "cuda" else "—"


def batch_of(
    shape: Shape, device: torch.device, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features ``(B, T, D)`` and labels ``(B, C)``: one class each, two for every seventh video."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(
        shape.batch, shape.length, shape.width, generator=generator, dtype=torch.float64
    ).to(dtype)
    labels = torch.zeros(shape.batch, shape.classes, dtype=dtype)
    labels[torch.arange(shape.batch), torch.arange(shape.batch) % shape.classes] = 1.0
    labels[::7, 1 % shape.classes] = 1.0
    return features.to(device), labels.to(device)


# ----------------------------------------------------------------------------------------------- parity


def largest_relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| / max(|b|, tiny), over the tensor (b the float64 reference)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def run_variant(
    variant: str,
    shape: Shape,
    device: torch.device,
    dtype: torch.dtype,
    dropout: float,
    memory: float | None,
    weights: dict | None,
):  # type: ignore[no-untyped-def]
    """Outputs, losses and gradients of one training forward/backward of ``variant``."""
    torch.manual_seed(0)
    cfg = ModelConfig(variant=variant, hidden_dim=shape.width, dropout=dropout, train_length=shape.length)
    model = build_model(cfg, shape.classes, shape.width)
    if weights is not None:
        model.load_state_dict(weights)
    model = model.to(device=device, dtype=dtype).train()
    model.post_memory_mib = memory  # type: ignore[assignment]
    features, labels = batch_of(shape, device, dtype)
    torch.manual_seed(1)
    if device.type == "cuda":
        torch.cuda.manual_seed(1)
    output = model(features, labels)
    losses = build_criterion(LossConfig(), variant)(output, labels)
    losses["total"].backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    outputs = {k: v for k, v in vars(output).items() if v is not None}
    return model.state_dict(), outputs, losses, grads


def parity_rows(table: Table, device: torch.device, quick: bool) -> None:
    shape = Shape(3, 48, 16, 5)
    for variant in CHECKED_VARIANTS[:3] if quick else CHECKED_VARIANTS:

        def check(variant: str = variant) -> None:
            with tf32(device, False):
                weights, ref_out, ref_loss, ref_grad = run_variant(
                    variant, shape, torch.device("cpu"), torch.float64, 0.0, None, None
                )
                _, out, loss, grad = run_variant(
                    variant,
                    shape,
                    device,
                    torch.float32,
                    0.0,
                    None,
                    {k: v.float() for k, v in weights.items()},
                )
            worst = {
                "outputs": max(largest_relative(out[k], ref_out[k]) for k in ref_out),
                "losses": max(largest_relative(loss[k], ref_loss[k]) for k in ref_loss),
                "gradients": max(largest_relative(grad[k], ref_grad[k]) for k in ref_grad),
            }
            value = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
            table.row(
                "parity", f"{variant} {device.type} fp32 vs CPU fp64", value, "largest relative difference"
            )

        table.guarded("parity", variant, check)

    def bounded() -> None:
        shape_b = Shape(4, 64, 16, 5)
        _, one, loss_one, grad_one = run_variant("ecm", shape_b, device, torch.float32, 0.5, None, None)
        _, blocks, loss_blocks, grad_blocks = run_variant(
            "ecm", shape_b, device, torch.float32, 0.5, 1e-9, None
        )
        worst = max(
            max(largest_relative(blocks[k], one[k]) for k in one),
            max(largest_relative(loss_blocks[k], loss_one[k]) for k in loss_one),
            max(largest_relative(grad_blocks[k], grad_one[k]) for k in grad_one),
        )
        table.row(
            "parity",
            f"bounded post stream vs one pass ({device.type})",
            f"{worst:.1e}",
            "dropout 0.5, same seed",
        )

    table.guarded("parity", "bounded post stream", bounded)


# ------------------------------------------------------------------------------------------------ steps


def time_step(
    shape: Shape, device: torch.device, precision: str, compile_: bool, steps: int, memory: float | None = 512
) -> tuple[float, str]:
    """Median seconds of one training step and the peak device memory."""
    torch.manual_seed(16)
    cfg = ModelConfig(
        variant="ecm", hidden_dim=shape.width, train_length=shape.length, post_memory_mib=memory
    )
    model = build_model(cfg, shape.classes, shape.width).to(device).train()
    network = torch.compile(model) if compile_ else model
    criterion = build_criterion(LossConfig(), "ecm")
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4, weight_decay=5e-4)
    mixed = Precision(precision, device)
    features, labels = batch_of(shape, device)

    def step() -> None:
        with mixed.autocast():
            output = network(features, labels)
        losses = criterion(output.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        mixed.step(losses["total"], optimizer)

    step()  # warm-up (and compilation)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times), peak_mib(device)


def step_rows(
    table: Table, device: torch.device, quick: bool, steps: int, compile_cpu: bool, compiled: bool
) -> None:
    """The training step in each precision, eager or (``compiled``, last: compiling takes the longest) compiled."""
    full = Shape(16, 750, 2048, 20)
    if device.type == "cuda":
        shape, label = full, "THUMOS14 shape"
    else:
        shape, label = (Shape(2, 64, 64, 5) if quick else Shape(4, 128, 256, 20)), "CPU, reduced shape"
    cases = [(p, compiled, p == "tf32") for p in ("fp32", "tf32", "bf16", "fp16")]
    for precision, compile_, allow_tf32 in cases:
        name = f"{'tf32' if allow_tf32 else precision}{' compiled' if compile_ else ''}"
        if device.type != "cuda" and (allow_tf32 or precision == "tf32"):
            table.row("step", name, "—", "needs a GPU (TF32)")
            continue
        if device.type != "cuda" and compile_ and not compile_cpu:
            table.row("step", name, "—", "not run on the CPU (--compile-cpu: a minute of C++ compilation)")
            continue

        def case(
            precision: str = "fp32" if precision == "tf32" else precision,
            compile_: bool = compile_,
            allow: bool = allow_tf32,
            name: str = name,
        ) -> None:
            with tf32(device, allow):
                seconds, memory = time_step(shape, device, precision, compile_, steps)
            table.row("step", name, f"{seconds:.3f} s/step, peak {memory}", f"{label}: {shape}")

        table.guarded("step", name, case)


def anet_rows(table: Table, device: torch.device, steps: int) -> None:
    if device.type != "cuda":
        table.row(
            "anet", "ActivityNet-shape step", "—", "needs a GPU (22 GB of RAM and 96 s per step on this CPU)"
        )
        return
    shape = Shape(128, 100, 2048, 200)
    for label, memory in (("bounded (512 MiB)", 512.0), ("one pass", None)):

        def case(label: str = label, memory: float | None = memory) -> None:
            seconds, peak = time_step(shape, device, "fp32", False, max(1, steps // 2), memory)
            table.row(
                "anet",
                f"ActivityNet step, post stream {label}",
                f"{seconds:.2f} s/step, peak {peak}",
                str(shape),
            )

        table.guarded("anet", label, case)


# ------------------------------------------------------------------------------- recipe and localization


def recipe_rows(table: Table, device: torch.device, quick: bool, epochs: int, folder: Path) -> Path | None:
    """Train ``synthetic-thumos14`` (or ``synthetic-tiny`` with ``--quick``) for a few epochs; returns the data root."""
    from ecm.data.synth_presets import preset_config, preset_structure, write_dataset
    from ecm.training import Trainer

    preset, recipe = ("tiny", "synthetic-tiny") if quick else ("thumos14", "synthetic-thumos14")
    if device.type != "cuda" and not quick:
        table.row(
            "recipe",
            "synthetic-thumos14 epochs",
            "—",
            "needs a GPU (about 7 s per epoch at width 2048 on this CPU is far too slow)",
        )
        return None
    root = folder / preset
    started = time.perf_counter()
    write_dataset(root, preset_structure(preset, seed=0), preset_config(preset), seed=0, preset=preset)
    table.row(
        "recipe",
        f"synth --preset {preset}",
        f"{time.perf_counter() - started:.1f} s",
        "dataset written once for the rows below",
    )
    config = load_config(
        recipe, [f"data.root={root}", f"train.epochs={epochs}", f"train.eval_interval={epochs}"]
    )
    started = time.perf_counter()
    summary = Trainer(config, folder / "run", quiet=True, device=str(device)).fit()
    seconds = time.perf_counter() - started
    per_epoch = seconds / epochs
    projection = per_epoch * load_config(recipe).train.epochs
    last = summary.last.value if summary.last is not None else float("nan")
    table.row(
        "recipe",
        f"{recipe}: {epochs} epochs + 1 evaluation",
        f"{per_epoch:.2f} s/epoch",
        f"measured {seconds:.0f} s (mAP@0.5 {last:.1f} at epoch {epochs}); projected, not measured: "
        f"{projection / 60:.1f} min for the recipe's {load_config(recipe).train.epochs} epochs",
    )
    return root


def localize_rows(table: Table, device: torch.device, root: Path | None, quick: bool) -> None:
    from ecm.data.folder import DatasetFolder
    from ecm.inference import localize_predictions, predict_split

    if root is None:
        table.row("localize", "videos/s", "—", "needs the recipe row's dataset")
        return
    recipe = "synthetic-tiny" if quick else "synthetic-thumos14"
    config = load_config(recipe, [f"data.root={root}"])
    split = DatasetFolder(root).open_split("test")
    torch.manual_seed(0)
    model = build_model(config.model, len(split.class_index.names), split.feature_dim).to(device).eval()
    started = time.perf_counter()
    predictions = predict_split(model, split, device=device, batch_size=16)
    synchronize(device)
    forward = time.perf_counter() - started
    started = time.perf_counter()
    localize_predictions(predictions, split, config.postprocess)
    post = time.perf_counter() - started
    count = len(split.videos)
    table.row(
        "localize",
        f"{count} test videos",
        f"{count / (forward + post):.0f} videos/s",
        f"forward {forward:.2f} s, post-processing {post:.2f} s (untrained model)",
    )


def i3d_rows(table: Table, device: torch.device, quick: bool) -> None:
    from ecm.video.i3d import I3D

    size, clips = (112, 1) if quick else (224, 8 if device.type == "cuda" else 2)
    for stream, channels in (("rgb", 3), ("flow", 2)):

        def case(stream: str = stream, channels: int = channels) -> None:
            torch.manual_seed(0)
            network = I3D(channels).to(device).eval()
            batch = torch.rand(clips, channels, 16, size, size, device=device) * 2 - 1
            with torch.inference_mode():
                network(batch)
                synchronize(device)
                started = time.perf_counter()
                network(batch)
                synchronize(device)
            rate = clips / (time.perf_counter() - started)
            table.row(
                "i3d",
                f"{stream} stream, 16 × {size}², batch {clips}",
                f"{rate:.1f} snippets/s",
                f"{rate * 16:.0f} frames/s",
            )

        table.guarded("i3d", stream, case)


def tvl1_rows(table: Table, device: torch.device, quick: bool) -> None:
    from ecm.video.tvl1 import tvl1_torch

    size = 64 if quick else 224
    rng = np.random.default_rng(0)
    base = (rng.random((size + 8, size + 8)) * 255).astype(np.float32)
    import cv2

    base = cv2.GaussianBlur(base, (0, 0), 2.0)
    first = np.clip(base[4 : 4 + size, 4 : 4 + size], 0, 255).astype(np.uint8)
    second = np.clip(base[5 : 5 + size, 6 : 6 + size], 0, 255).astype(np.uint8)
    pairs = 2 if quick else 8
    estimator = cv2.optflow.DualTVL1OpticalFlow_create()
    started = time.perf_counter()
    reference = [estimator.calc(first, second, None) for _ in range(pairs)]
    table.row(
        "tvl1",
        f"opencv (CPU), {size}²",
        f"{pairs / (time.perf_counter() - started):.2f} pairs/s",
        "one pair at a time",
    )
    batches = (2,) if quick else ((64, 256) if device.type == "cuda" else (8,))
    for batch in batches:

        def case(batch: int = batch) -> None:
            one = torch.from_numpy(np.repeat(first[None], batch, 0))
            two = torch.from_numpy(np.repeat(second[None], batch, 0))
            tvl1_torch(one[:1], two[:1], device=device)  # warm-up
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            synchronize(device)
            started = time.perf_counter()
            flow = tvl1_torch(one, two, device=device, batch=batch)
            synchronize(device)
            rate = batch / (time.perf_counter() - started)
            gap = float(np.abs(flow[0].cpu().numpy() - reference[0]).max())
            table.row(
                "tvl1",
                f"torch ({device.type}), {size}², batch {batch}",
                f"{rate:.2f} pairs/s",
                f"max |flow − OpenCV's| {gap:.1e} px, peak {peak_mib(device)}",
            )

        table.guarded("tvl1", f"torch batch {batch}", case)


# ------------------------------------------------------------------------------------------------- DDP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ddp_rows(table: Table, device: torch.device) -> None:
    """A one-process DDP step (its own process group, torn down afterwards) against the plain step."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    backend = "nccl" if device.type == "cuda" else "gloo"
    shape = Shape(4, 64, 32, 5)

    def step(wrap: bool) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = (
            build_model(
                ModelConfig(hidden_dim=shape.width, train_length=shape.length, dropout=0.0),
                shape.classes,
                shape.width,
            )
            .to(device)
            .train()
        )
        network = (
            DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)
            if wrap
            else model
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        features, labels = batch_of(shape, device)
        losses = build_criterion(LossConfig(), "ecm")(network(features, labels), labels)
        with warnings.catch_warnings():  # DDP on a 1×1 convolution's gradient strides: speed only
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            losses["total"].backward()
        optimizer.step()
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def case() -> None:
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
        try:
            wrapped = step(True)
        finally:
            dist.destroy_process_group()
        plain = step(False)
        worst = max(float((wrapped[k].double() - plain[k].double()).abs().max()) for k in plain)
        table.row(
            "ddp",
            f"1-process {backend} DDP step vs plain step",
            f"max |Δparameter| {worst:.1e}",
            "dropout off, same seed",
        )

    table.guarded("ddp", backend, case)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, seconds in all (the tests run it)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per step row (default 5)")
    parser.add_argument(
        "--epochs", type=int, default=5, help="recipe epochs measured (default 5; --quick: 1)"
    )
    parser.add_argument(
        "--budget", type=float, default=420.0, help="seconds after which no row starts (default 420)"
    )
    parser.add_argument("--compile-cpu", action="store_true", help="also time compiled steps on the CPU")
    args = parser.parse_args()
    from ecm.device import resolve_device

    device = resolve_device(args.device)
    steps, epochs = (1, 1) if args.quick else (args.steps, args.epochs)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    print(
        f"ecm device check on {device} ({name}); torch {torch.__version__}, CUDA {torch.version.cuda}; "
        f"commit {commit.stdout.strip() or 'unknown'}; {'quick' if args.quick else 'full'} run"
    )
    if device.type != "cuda":
        print("no CUDA: the rows marked 'needs a GPU' are not measured; the others run on the CPU")
    table = Table(args.budget)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        parity_rows(table, device, args.quick)
        step_rows(table, device, args.quick, steps, args.compile_cpu, compiled=False)
        anet_rows(table, device, steps)
        root: list[Path | None] = [None]

        def recipe() -> None:
            root[0] = recipe_rows(table, device, args.quick, epochs, folder)

        table.guarded("recipe", "recipe", recipe)
        table.guarded("localize", "localize", lambda: localize_rows(table, device, root[0], args.quick))
        i3d_rows(table, device, args.quick)
        table.guarded("tvl1", "tvl1", lambda: tvl1_rows(table, device, args.quick))
        ddp_rows(table, device)
        step_rows(table, device, args.quick, steps, args.compile_cpu, compiled=True)
    print(f"done in {time.perf_counter() - table.started:.0f} s")


if __name__ == "__main__":
    main()
