"""ECM loss terms as pure functions, and a criterion with explicit weights.

``L = L_pre + L_post + β (L_c2c + α L_a2c)``; β = 0.05, α = 100 on THUMOS14 (weights 0.05 on L_c2c, 5 on
L_a2c, the implementation's constants), α = 20 on ActivityNet (weight 1 on L_a2c).

Labels are multi-hot ``(B, C)`` floats; a class is *present* where its label is > 0 (the reference tests
``== 1``, the same for multi-hot labels). All terms are float32-stable for the very large logits of the
post stream's un-normalised sums: log-probabilities come from ``log_softmax``; the BCE of L_a2c clamps its
log terms at −100 exactly like ``torch.nn.BCELoss`` (``log p`` via ``log_softmax``, ``log(1 − p)`` via
``log1p(−p)``: the same values as BCELoss up to rounding, including its saturation at −100).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ecm.errors import InputError
from ecm.model.ecm import ModelOutput
from ecm.model.variants import parse_variant

__all__ = [
    "TERMS",
    "Criterion",
    "LossConfig",
    "LossWeights",
    "a2c_loss",
    "build_criterion",
    "c2c_loss",
    "normalise_labels",
    "post_loss",
    "pre_loss",
    "variant_loss_weights",
]

# Named loss terms, in the order the criterion reports them (plus "total").
TERMS: tuple[str, ...] = ("pre", "post", "c2c", "a2c")
# torch.nn.BCELoss clamps each log term at this value.
_LOG_CLAMP = -100.0


@dataclass(frozen=True)
class LossConfig:
    """Loss configuration: ``L = L_pre + L_post + beta · (L_c2c + alpha · L_a2c)``."""

    # β: weight of the two consistency terms (0.05 in the paper and the implementation).
    beta: float = 0.05
    # α: relative weight of L_a2c inside the consistency terms (100 THUMOS14 → weight 5; 20 ActivityNet → 1).
    alpha: float = 100.0
    # Epochs at the start trained on L_pre alone (0 in the paper).
    warmup_epochs: int = 0
    # Epochs after the warm-up over which L_post, L_c2c and L_a2c rise linearly to full weight (0: at once).
    ramp_epochs: int = 0

    def __post_init__(self) -> None:
        if self.beta < 0.0 or self.alpha < 0.0:
            raise InputError(None, f"loss.beta and loss.alpha must be ≥ 0, got {self.beta}, {self.alpha}")
        if self.warmup_epochs < 0 or self.ramp_epochs < 0:
            raise InputError(
                None,
                f"loss.warmup_epochs and loss.ramp_epochs must be ≥ 0, got {self.warmup_epochs}, "
                f"{self.ramp_epochs}",
            )

    def post_factor(self, epoch: int) -> float:
        """Factor on the L_post, L_c2c and L_a2c weights in (1-based) ``epoch``: 0 during the warm-up, then
        rising by ``1 / ramp_epochs`` per epoch to 1.

        >>> [LossConfig(warmup_epochs=2, ramp_epochs=4).post_factor(e) for e in range(1, 8)]
        [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
        """
        if epoch <= self.warmup_epochs:
            return 0.0
        if self.ramp_epochs == 0:
            return 1.0
        return min(1.0, (epoch - self.warmup_epochs) / self.ramp_epochs)


def normalise_labels(labels: Tensor) -> Tensor:
    """L1-normalised labels ``ŷ = y / (Σ_c y_c + 1e-10)``: ``(B, C) → (B, C)``."""
    return labels / (labels.sum(dim=1, keepdim=True) + 1e-10)


def _video_ce(logits: Tensor, labels: Tensor) -> Tensor:
    """``−mean_b Σ_c ŷ[b, c] · log softmax_c(logits[b])[c]`` for ``(B, C)`` logits and labels."""
    return -(normalise_labels(labels) * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def pre_loss(pre_logits: Tensor, labels: Tensor) -> Tensor:
    """L_pre: cross-entropy of the pre stream's video logits ``s_pre`` ``(B, C)`` against ``ŷ``; a scalar."""
    return _video_ce(pre_logits, labels)


def post_loss(post_logits: Tensor, labels: Tensor) -> Tensor:
    """L_post: cross-entropy of the post stream's video logits ``s_post`` ``(B, C)`` against ``ŷ``; a scalar."""
    return _video_ce(post_logits, labels)


def c2c_loss(pre_logits: Tensor, post_logits: Tensor) -> Tensor:
    """L_c2c: ``mean_{b,c} (s_pre − s_post)²`` on logits ``(B, C)`` (paper eq. 2); gradients reach both."""
    return (pre_logits - post_logits).pow(2).mean()


def a2c_loss(post_logits: Tensor, background_logits: Tensor, labels: Tensor) -> Tensor:
    """L_a2c (paper eq. 3): action/background aggregation consistency.

    ``p_agg[b] = softmax([s_post[b], q[b]])`` over 2C entries; per video, BCE over the ``2n`` entries
    ``{p_agg[g] → 1, p_agg[C + g] → 0 : g present}``, averaged over those entries, then summed over videos
    and divided by the batch size ``B``. A video with no present class contributes 0 (the reference
    cannot handle one).

    Args:
        post_logits: ``(B, C)`` ``s_post``.
        background_logits: ``(B, C)`` ``q``.
        labels: ``(B, C)`` multi-hot.

    Returns:
        A scalar.
    """
    num_classes = post_logits.shape[1]
    log_p = F.log_softmax(torch.cat([post_logits, background_logits], dim=1), dim=1)  # (B, 2C)
    log_p_action = log_p[:, :num_classes].clamp(min=_LOG_CLAMP)  # (B, C) log p_agg[g]
    p_background = log_p[:, num_classes:].exp()  # (B, C) p_agg[C + g]
    # log(1 − p) is −inf where p rounds to 1: BCELoss then gives −100. Guard the input too, so that no
    # 0 · inf reaches the gradient of entries that are masked out or clamped.
    saturated = p_background >= 1.0
    log_not_background = torch.where(
        saturated,
        _LOG_CLAMP,
        torch.log1p(-torch.where(saturated, 0.0, p_background)).clamp(min=_LOG_CLAMP),
    )  # (B, C) log(1 − p_agg[C + g])
    present = (labels > 0).to(log_p.dtype)  # (B, C)
    entries = 2.0 * present.sum(dim=1)  # (B,) 2n
    per_video = -((log_p_action + log_not_background) * present).sum(dim=1) / entries.clamp(min=1.0)
    return per_video.sum() / post_logits.shape[0]


@dataclass(frozen=True)
class LossWeights:
    """Effective weight of each term in the total (0 drops a term)."""

    pre: float = 1.0
    post: float = 1.0
    c2c: float = 0.05
    a2c: float = 5.0


def variant_loss_weights(variant: str, cfg: LossConfig) -> LossWeights:
    """Term weights for a model variant: ``pre = post = 1``, ``c2c = β``, ``a2c = β·α``, then zero the terms
    the variant drops (``pre_only``: all but pre; ``post_only``: all but post; ``no_a2c``, ``no_c2c``)."""
    spec = parse_variant(variant)
    return LossWeights(
        pre=1.0 if spec.pre_stream else 0.0,
        post=1.0 if spec.post_stream else 0.0,
        c2c=cfg.beta if spec.c2c else 0.0,
        a2c=cfg.beta * cfg.alpha if spec.a2c else 0.0,
    )


class Criterion:
    """Named ECM loss terms and their weighted total.

    Args:
        pre, post, c2c, a2c: the weight of each term in ``total`` (see :func:`variant_loss_weights`).

    Calling it with a :class:`~ecm.model.ModelOutput` and ``(B, C)`` labels returns a dict with keys
    ``"pre"``, ``"post"``, ``"c2c"``, ``"a2c"`` and ``"total"`` (0-d tensors). A term is computed whenever
    the output holds its inputs, whatever its weight (so it can be logged); a term whose inputs are absent
    (e.g. ``post`` for ``pre_only``) is a 0-valued tensor, and an error if its weight is not 0. ``total``
    sums ``weight · term`` over the terms with non-zero weight.
    """

    def __init__(self, *, pre: float = 1.0, post: float = 1.0, c2c: float = 0.05, a2c: float = 5.0) -> None:
        self.weights: dict[str, float] = {"pre": pre, "post": post, "c2c": c2c, "a2c": a2c}

    def scaled(self, factor: float) -> Criterion:
        """This criterion with the weights of L_post, L_c2c and L_a2c multiplied by ``factor``."""
        w = self.weights
        return Criterion(pre=w["pre"], post=factor * w["post"], c2c=factor * w["c2c"], a2c=factor * w["a2c"])

    def terms(self, output: ModelOutput, labels: Tensor) -> dict[str, Tensor | None]:
        """Each term, or ``None`` where the output lacks its inputs."""
        pre, post, bg = output.pre_logits, output.post_logits, output.background_logits
        return {
            "pre": None if pre is None else pre_loss(pre, labels),
            "post": None if post is None else post_loss(post, labels),
            "c2c": None if pre is None or post is None else c2c_loss(pre, post),
            "a2c": None if post is None or bg is None else a2c_loss(post, bg, labels),
        }

    def __call__(self, output: ModelOutput, labels: Tensor) -> dict[str, Tensor]:
        zero = output.video_logits.new_zeros(())
        losses: dict[str, Tensor] = {}
        total = zero
        for name, value in self.terms(output, labels).items():
            weight = self.weights[name]
            if value is None:
                if weight != 0.0:
                    raise ValueError(
                        f"loss term {name!r} has weight {weight} but the model output lacks its inputs "
                        "(eval mode, labels not passed in training, or a variant without that stream)"
                    )
                value = zero
            elif weight != 0.0:
                total = total + weight * value
            losses[name] = value
        losses["total"] = total
        return losses


def build_criterion(cfg: LossConfig, variant: str = "ecm") -> Criterion:
    """The criterion of ``variant`` with the weights of ``cfg`` (:func:`variant_loss_weights`)."""
    weights = variant_loss_weights(variant, cfg)
    return Criterion(pre=weights.pre, post=weights.post, c2c=weights.c2c, a2c=weights.a2c)
