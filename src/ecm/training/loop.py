"""One epoch of training and one evaluation, as plain functions over explicit collaborators."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from ecm.config import OptimConfig
from ecm.data.dataset import Batch
from ecm.data.folder import SplitData
from ecm.evaluation import DetectionResult
from ecm.inference import localize_predictions, predict_split, score_detections
from ecm.losses import Criterion
from ecm.postprocess import PostprocessConfig
from ecm.student import StudentCriterion
from ecm.training.precision import Precision


def learning_rate(optim: OptimConfig, epoch: int, epochs: int = 1) -> float:
    """Learning rate of (1-based) ``epoch`` of ``epochs``.

    ``step``: ``lr · lr_gamma^(number of lr_steps < epoch)``; ``cosine``: from ``lr`` at epoch 1 down a half
    cosine, ``lr_min + ½ (lr − lr_min)(1 + cos(π (epoch − 1) / epochs))``. With ``warmup_epochs`` = w, epochs
    1 … w train at ``lr · epoch / (w + 1)`` and the cosine runs over the remaining ``epochs − w``.

    >>> optim = OptimConfig(lr=2e-4, lr_steps=(26,), lr_gamma=0.1)
    >>> learning_rate(optim, 26), learning_rate(optim, 27)
    (0.0002, 2e-05)
    >>> cosine = OptimConfig(lr=2e-4, schedule="cosine")
    >>> [round(learning_rate(cosine, e, 4), 7) for e in (1, 2, 3, 4)]
    [0.0002, 0.0001707, 0.0001, 2.93e-05]
    >>> warm = OptimConfig(lr=3e-4, schedule="cosine", warmup_epochs=2)
    >>> [round(learning_rate(warm, e, 4), 7) for e in (1, 2, 3, 4)]
    [0.0001, 0.0002, 0.0003, 0.00015]
    """
    warmup = optim.warmup_epochs
    if epoch <= warmup:
        return optim.lr * epoch / (warmup + 1)
    if optim.schedule == "cosine":
        return optim.lr_min + 0.5 * (optim.lr - optim.lr_min) * (
            1.0 + math.cos(math.pi * (epoch - 1 - warmup) / max(epochs - warmup, 1))
        )
    return optim.lr * optim.lr_gamma ** sum(1 for step in optim.lr_steps if epoch > step)


def train_one_epoch(
    model: nn.Module,
    criterion: Criterion | StudentCriterion,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Batch | tuple[Batch, float]],
    *,
    lr: float,
    device: torch.device,
    world: int = 1,
    precision: Precision | None = None,
    after_step: Callable[[], object] | None = None,
) -> tuple[dict[str, float], int]:
    """One pass over ``batches`` at learning rate ``lr``.

    Args:
        batches: batches, or — across ``world`` processes — ``(this rank's share, its videos / the global
            batch size)`` pairs; a share weighted 0 only joins the gradient average (see
            :mod:`ecm.distributed`).
        precision: the forward's autocast and the step (default: float32 throughout).
        after_step: called after each optimiser step (an average of the weights follows them there).

    Returns:
        per loss term the sum over batches of ``share · mean over the share`` (summed over the ranks this
        is the sum of the global batch means), and the number of batches.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    model.train()
    sums: dict[str, float] = {}
    count = 0
    precision = precision or Precision("fp32", device)
    for item in batches:
        batch, share = item if isinstance(item, tuple) else (item, 1.0)
        batch = batch.to(device, non_blocking=True)
        # ECM learns from the video labels (B, C), a detector from dense targets (B, N, C + 3).
        target = batch.labels if batch.targets is None else batch.targets
        with precision.autocast():
            output = model(batch.features, target)  # features (B, T, D)
        losses = criterion(output.float(), target)  # float32 whatever the forward's precision
        optimizer.zero_grad(set_to_none=True)
        precision.step(losses["total"] if world == 1 else losses["total"] * (world * share), optimizer)
        if after_step is not None:
            after_step()
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + (
                float(value.detach()) if share == 1.0 else share * float(value.detach())
            )
        count += 1
    return sums, count


def evaluate_split(
    model: nn.Module,
    split: SplitData,
    *,
    postprocess: PostprocessConfig,
    tious: Sequence[float],
    device: torch.device,
    batch_size: int = 1,
    length: int | None = None,
) -> DetectionResult:
    """Localize and score ``split`` with the model's current weights, in memory.

    Args:
        length: snippets per video (uniform sampling), or ``None`` for every snippet.
    """
    predictions = predict_split(model, split, device=device, batch_size=batch_size, uniform_length=length)
    return score_detections(localize_predictions(predictions, split, postprocess), split, tious)
