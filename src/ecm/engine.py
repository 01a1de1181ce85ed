"""The training engine: seeded, resumable, logged, checkpointed with its config.

``Trainer(config, run_dir).fit()`` trains for ``train.epochs`` epochs and, every
``train.eval_interval`` epochs, localizes and scores the test split in memory. Run folder::

    RUN/config.yaml                 the fully resolved config
    RUN/metrics.jsonl               one JSON line per epoch: loss terms, lr, seconds, test (and val) mAP
    RUN/checkpoints/last.pt         after every epoch (atomic)
    RUN/checkpoints/best.pt         best test-split selection metric so far (the paper's protocol)
    RUN/summary.json                best-on-test, last-epoch and validation-selected results side by side
    RUN/tensorboard/                optional

Resumption (``resume=True``) restores parameters, optimiser state and torch RNG state from ``last.pt``;
data sampling and shuffling depend only on (seed, epoch, index), so a run resumed after epoch k ends
with exactly the weights of an uninterrupted run (CPU).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecm.atomic import write_json, write_text
from ecm.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ecm.config import ExperimentConfig, config_from_dict, config_to_dict, dump_config
from ecm.data.dataset import make_loader, set_epoch
from ecm.data.folder import DatasetFolder, SplitData
from ecm.data.timing import SnippetTiming
from ecm.errors import InputError
from ecm.evaluation import DetectionResult
from ecm.inference import localize_predictions, predict_split, score_detections
from ecm.losses import build_criterion
from ecm.model import build_model
from ecm.progress import progress_bar

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise ``torch.device(name)`` (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(None, f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(None, "device cuda requested but CUDA is not available")
    return device


def prepare_dataset(config: ExperimentConfig, *, quiet: bool = True) -> DatasetFolder:
    """Open ``data.root``; generate it first with ``data.synthetic`` when it does not exist."""
    data = config.data
    root = Path(data.root)
    if not root.exists() and data.synthetic:
        from ecm.data.synth_presets import preset_config, preset_structure, write_dataset

        log.info("generating synthetic dataset %s (preset %s)", root, data.synthetic)
        structure = preset_structure(data.synthetic, seed=data.synthetic_seed)
        write_dataset(
            root, structure, preset_config(data.synthetic), seed=data.synthetic_seed, preset=data.synthetic
        )
    timing = SnippetTiming(data.frames_per_snippet, data.feature_fps)
    return DatasetFolder(root, train_split=data.train_split, timing=timing)


def hold_out(split: SplitData, fraction: float, seed: int) -> tuple[SplitData, SplitData | None]:
    """Split off ``fraction`` of the videos (seeded) as a validation set: (train, validation or None)."""
    if fraction <= 0.0:
        return split, None
    count = max(1, round(fraction * len(split)))
    chosen = set(np.random.default_rng([seed, 7]).choice(len(split), size=count, replace=False).tolist())
    train = tuple(v for i, v in enumerate(split.videos) if i not in chosen)
    val = tuple(v for i, v in enumerate(split.videos) if i in chosen)

    def subset(videos: tuple[Any, ...]) -> SplitData:
        ids = {v.video_id for v in videos}
        gt = {k: a for k, a in split.ground_truth.items() if k in ids}
        return dataclasses.replace(split, videos=videos, ground_truth=gt)

    return subset(train), subset(val)


def selection_value(result: DetectionResult, metric: str) -> float:
    """The value of a selection metric (``mAP@0.5`` or ``average``) in a result."""
    if metric == "average":
        return result.average
    if metric.startswith("mAP@"):
        try:
            return result.map_at(float(metric[4:]))
        except (KeyError, ValueError):
            pass
    raise InputError(None, f"eval.selection {metric!r} is not 'average' or mAP@<an evaluated tIoU>")


def learning_rate(config: ExperimentConfig, epoch: int) -> float:
    """Learning rate of (1-based) ``epoch``: lr × gamma^(number of lr_steps < epoch)."""
    steps = sum(1 for s in config.optim.lr_steps if epoch > s)
    return config.optim.lr * config.optim.lr_gamma**steps


@dataclass
class RunSummary:
    """Headline results of a finished run (percent); ``None`` where not available."""

    metric: str
    best_on_test: dict[str, Any] | None
    last: dict[str, Any] | None
    val_selected: dict[str, Any] | None


def summarize(history: list[dict[str, Any]], metric: str) -> RunSummary:
    """Best-on-test (paper protocol), last evaluated epoch, and validation-selected epoch."""
    evaluated = [h for h in history if "test" in h]
    if not evaluated:
        return RunSummary(metric, None, None, None)

    def value(entry: dict[str, Any], part: str) -> float:
        block = entry[part]
        return float(block["average"] if metric == "average" else block["mAP"][metric[4:]])

    def row(entry: dict[str, Any]) -> dict[str, Any]:
        return {"epoch": entry["epoch"], metric: value(entry, "test"), "test": entry["test"]}

    best = max(evaluated, key=lambda h: (value(h, "test"), -h["epoch"]))
    with_val = [h for h in evaluated if "val" in h]
    val_best = max(with_val, key=lambda h: (value(h, "val"), -h["epoch"])) if with_val else None
    return RunSummary(metric, row(best), row(evaluated[-1]), row(val_best) if val_best else None)


class Trainer:
    """Trains one run. Only :meth:`fit` does work; the constructor checks the run folder.

    Args:
        config: the resolved experiment config.
        run_dir: the run folder (created).
        resume: continue from ``RUN/checkpoints/last.pt``.
        overwrite: delete an existing run folder's contents first.
        quiet: no progress bar.
        device: overrides ``train.device``.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        quiet: bool = False,
        device: str | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self.resume = resume
        self.overwrite = overwrite
        self.config = config
        self.device = resolve_device(device or config.train.device)
        last = self.run_dir / "checkpoints" / "last.pt"
        if resume:
            if not last.exists():
                raise InputError(last, "nothing to resume (no last.pt)")
            saved = config_from_dict(load_checkpoint(last)["config"])
            self._check_same(saved, config)
        elif self.run_dir.exists() and any(self.run_dir.iterdir()) and not overwrite:
            raise InputError(self.run_dir, "run folder exists and is not empty (use --resume or --overwrite)")

    @staticmethod
    def _check_same(saved: ExperimentConfig, config: ExperimentConfig) -> None:
        a = config_to_dict(dataclasses.replace(saved, train=dataclasses.replace(saved.train, epochs=0)))
        b = config_to_dict(dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=0)))
        for section in a:
            if a[section] != b[section]:
                keys = [k for k in a[section] if a[section][k] != b[section].get(k)]
                raise InputError(
                    None, f"--resume with a different config ({section}.{keys[0]} differs from the run's)"
                )

    def fit(self, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> RunSummary:
        """Train (or continue training) to ``train.epochs``; returns the run summary."""
        cfg = self.config
        if self.overwrite and not self.resume and self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        dataset = prepare_dataset(cfg, quiet=self.quiet)
        train_split, val_split = hold_out(
            dataset.open_split(cfg.data.train_split, require_labels=True),
            cfg.data.val_fraction,
            cfg.train.seed,
        )
        test_split = dataset.open_split(cfg.data.test_split)
        if not test_split.ground_truth:
            raise InputError(
                dataset.root / "gt.json", f"split {cfg.data.test_split!r} has no annotations to evaluate"
            )
        num_classes, feature_dim = len(dataset.class_index), train_split.feature_dim
        if test_split.feature_dim != feature_dim:
            raise InputError(dataset.root / "features", "train and test features differ in width")

        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg.model, num_classes, feature_dim).to(self.device)
        criterion = build_criterion(cfg.loss, cfg.model.variant)
        optimizer = torch.optim.Adam(
            model.parameters(),
            lr=cfg.optim.lr,
            betas=cfg.optim.betas,
            eps=cfg.optim.eps,
            weight_decay=cfg.optim.weight_decay,
        )
        history: list[dict[str, Any]] = []
        start_epoch = 1
        if self.resume:
            state = load_checkpoint(self.run_dir / "checkpoints" / "last.pt")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"])
            history = list(state["metrics"])
            start_epoch = int(state["epoch"]) + 1
        write_text(self.run_dir / "config.yaml", dump_config(cfg))

        loader = make_loader(
            train_split,
            batch_size=cfg.train.batch_size,
            train=True,
            length=cfg.model.train_length,
            mode=cfg.data.train_sampling,
            seed=cfg.train.seed,
            num_workers=cfg.data.num_workers,
        )
        writer = self._tensorboard()
        best = max((h["selection"] for h in history if "selection" in h), default=-np.inf)
        bar = progress_bar(cfg.train.epochs, "train", quiet=self.quiet, unit="epoch")
        bar.update(start_epoch - 1)
        try:
            for epoch in range(start_epoch, cfg.train.epochs + 1):
                started = time.perf_counter()
                lr = learning_rate(cfg, epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                set_epoch(loader, epoch)
                model.train()
                sums: dict[str, float] = {}
                batches = 0
                for batch in loader:
                    batch = batch.to(self.device)
                    output = model(batch.features, batch.labels)
                    losses = criterion(output, batch.labels)
                    optimizer.zero_grad(set_to_none=True)
                    losses["total"].backward()
                    optimizer.step()
                    for name, value in losses.items():
                        sums[name] = sums.get(name, 0.0) + float(value.detach())
                    batches += 1
                entry: dict[str, Any] = {
                    "epoch": epoch,
                    "lr": lr,
                    "loss": {k: v / max(batches, 1) for k, v in sums.items()},
                }
                interval = cfg.train.eval_interval
                if epoch == cfg.train.epochs or (interval > 0 and epoch % interval == 0):
                    result = self.evaluate(model, test_split)
                    entry["test"] = result.to_json()
                    entry["selection"] = selection_value(result, cfg.eval.selection)
                    if val_split is not None:
                        entry["val"] = self.evaluate(model, val_split).to_json()
                entry["seconds"] = time.perf_counter() - started
                history.append(entry)
                payload = {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "config": config_to_dict(cfg),
                    "metrics": history,
                    "class_names": list(dataset.class_index.names),
                    "feature_dim": feature_dim,
                    "rng": rng_state(),
                }
                save_checkpoint(self.run_dir / "checkpoints" / "last.pt", payload)
                if "selection" in entry and entry["selection"] > best:
                    best = entry["selection"]
                    save_checkpoint(self.run_dir / "checkpoints" / "best.pt", payload)
                write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
                self._log(writer, entry)
                postfix = {"loss": f"{entry['loss'].get('total', 0.0):.3f}"}
                if "selection" in entry:
                    postfix[cfg.eval.selection] = f"{entry['selection']:.2f}"
                bar.set_postfix(postfix)
                bar.update(1)
                if on_epoch is not None:
                    on_epoch(entry)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        summary = summarize(history, cfg.eval.selection)
        write_json(self.run_dir / "summary.json", dataclasses.asdict(summary), indent=2)
        return summary

    def evaluate(self, model: torch.nn.Module, split: SplitData) -> DetectionResult:
        """Localize and score ``split`` with the current weights (in memory)."""
        cfg = self.config
        uniform = cfg.model.train_length if cfg.data.test_sampling == "uniform" else None
        predictions = predict_split(
            model, split, device=self.device, batch_size=cfg.train.eval_batch_size, uniform_length=uniform
        )
        detections = localize_predictions(predictions, split, cfg.postprocess)
        return score_detections(detections, split, cfg.eval.tious)

    def _tensorboard(self) -> Any:
        if not self.config.train.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise InputError(
                None, "train.tensorboard needs the tensorboard extra: pip install 'ecm-tal[tensorboard]'"
            ) from None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    @staticmethod
    def _log(writer: Any, entry: dict[str, Any]) -> None:
        if writer is None:
            return
        for name, value in entry["loss"].items():
            writer.add_scalar(f"loss/{name}", value, entry["epoch"])
        for part in ("test", "val"):
            if part in entry:
                for tiou, value in entry[part]["mAP"].items():
                    writer.add_scalar(f"{part}/mAP@{tiou}", value, entry["epoch"])
                writer.add_scalar(f"{part}/average", entry[part]["average"], entry["epoch"])


@dataclass(frozen=True)
class TrainedRun:
    """A trained model restored from a run folder, ready for inference (eval mode, on ``device``)."""

    run_dir: Path
    checkpoint: Path
    config: ExperimentConfig
    model: torch.nn.Module
    class_names: tuple[str, ...]
    feature_dim: int
    epoch: int
    device: torch.device


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str = "auto") -> TrainedRun:
    """Restore a run's model from ``checkpoint`` (``best``, ``last`` or a path to a ``.pt`` file).

    ``best`` falls back to ``last`` when the run never evaluated. Raises :class:`InputError` for a folder
    without checkpoints or a checkpoint that does not load.
    """
    run = Path(run_dir)
    if checkpoint in ("best", "last"):
        path = run / "checkpoints" / f"{checkpoint}.pt"
        if checkpoint == "best" and not path.exists():
            path = run / "checkpoints" / "last.pt"
        if not path.exists():
            raise InputError(run, "no checkpoint found (expected checkpoints/best.pt or last.pt)")
    else:
        path = Path(checkpoint)
    state = load_checkpoint(path)
    config = config_from_dict(state["config"])
    class_names = tuple(state["class_names"])
    feature_dim = int(state["feature_dim"])
    target = resolve_device(device)
    model = build_model(config.model, len(class_names), feature_dim)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise InputError(path, f"model weights do not fit the model its config describes ({exc})") from None
    model.to(target).eval()
    return TrainedRun(run, path, config, model, class_names, feature_dim, int(state["epoch"]), target)
