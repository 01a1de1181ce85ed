"""Equivalent Classification Mapping: the two streams, the weight transition, variants, ``build_model``.

``ECM.forward(features (B, T, D), labels (B, C) | None) → ModelOutput``:

* pre-classification stream: CAS ``S = Φ(E(X))`` ``(B, C, T)`` logits; ``s_pre`` = mean of the ``k`` largest
  CAS logits over time, ``k = int(train_length · topk_ratio)`` (93 on THUMOS14), ``min(k, T)`` for shorter
  videos (the official code crashes there);
* weight transition: ``A = sigmoid(Conv1x1(C→C)(S))`` — no detach, post-stream gradients reach the CAS;
* post-classification stream (training only): three interleaved folds of ``A``-weighted sums of the raw
  features, the same ``E``, class ``c`` scored only by ``W[c]``, mean over folds → ``s_post``;
* background branch (training only, when ``labels`` are given and the variant uses L_a2c): logits ``q``.

Eval mode skips the post stream (and the background branch) entirely; only ``post_only``, which has no
other video-level classifier, runs its post stream in eval to produce ``video_logits``. The model never
computes losses or detections (see :mod:`ecm.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ecm.errors import InputError
from ecm.model.classifier import Classifier, SnippetEmbedding, temporal_conv
from ecm.model.streams import post_classification
from ecm.model.variants import VariantSpec, parse_variant

__all__ = ["ECM", "AttentionNetwork", "ModelConfig", "ModelOutput", "WeightTransition", "build_model"]


@dataclass(frozen=True)
class ModelConfig:
    """Model configuration (component-owned; only :func:`build_model` reads it)."""

    # Variant name or "+"-joined modifiers (see ecm.model.variants): "ecm", "pre_only", "no_a2c+no_c2c", …
    variant: str = "ecm"
    # Width H of the embedding E; None → the input width D (2048 in the paper).
    hidden_dim: int | None = None
    # Dropout probability at the end of E.
    dropout: float = 0.5
    # Negative slope of every LeakyReLU.
    leaky_slope: float = 0.01
    # Top-k ratio r of the pre stream: k = int(train_length · r); THUMOS14 1/8, ANet1.2 0.25, ANet1.3 0.6.
    topk_ratio: float = 0.125
    # Snippets per training video T_train (750 THUMOS14, 100 ActivityNet); only sets k.
    train_length: int = 750
    # Interleaved folds of the post stream (fold i holds snippets t ≡ i mod folds).
    folds: int = 3
    # Hidden width of the attention network (post_only, no_transition); None → hidden width of E.
    attention_hidden_dim: int | None = None
    # Scaling of the post stream's per-fold weighted sums: "sum" (the paper), "mean" (÷ the fold's weight
    # mass Σ a_t) or "length" (÷ the fold's snippet count). Not the paper's method unless "sum".
    aggregation: Literal["sum", "mean", "length"] = "sum"
    # Activation memory (MiB, roughly) the post stream may keep for the backward pass; past it, blocks of
    # videos are recomputed in the backward pass instead (the same computation, float sums in another
    # order; slower). null: never.
    post_memory_mib: int | None = 512

    def __post_init__(self) -> None:
        parse_variant(self.variant)
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(None, f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.topk_ratio <= 0.0 or self.train_length < 1 or self.folds < 1:
            raise InputError(None, "model.topk_ratio must be > 0, model.train_length and model.folds ≥ 1")
        if self.post_memory_mib is not None and self.post_memory_mib < 1:
            raise InputError(None, f"model.post_memory_mib must be ≥ 1 or null, got {self.post_memory_mib}")
        for name in ("hidden_dim", "attention_hidden_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(None, f"model.{name} must be ≥ 1 or null, got {value}")

    @property
    def topk(self) -> int:
        """Top-k size k = int(train_length · topk_ratio) (truncated as the reference does), at least 1."""
        return max(1, int(self.train_length * self.topk_ratio))


@dataclass(frozen=True, eq=False)
class ModelOutput:
    """Everything ``ECM.forward`` returns; the type never depends on train/eval mode (no ``==``: tensors).

    Attributes:
        cas: ``(B, C, T)`` class activation sequence ``Φ(E(X))``, logits (post-processing reads it).
        video_logits: ``(B, C)`` the logits the model classifies a video with at inference: ``s_pre``, or
            ``s_post`` for ``post_only`` (which has no pre stream).
        pre_logits: ``(B, C)`` ``s_pre`` (top-k mean of the CAS); ``None`` for ``post_only``.
        post_logits: ``(B, C)`` ``s_post``; training only (``post_only``: always); ``None`` for ``pre_only``.
        weights: aggregation weights ``A`` in (0, 1): ``(B, C, T)``, or ``(B, 1, T)`` with class-agnostic
            weights. From the weight transition they are cheap and present in eval too; from an attention
            network (``no_transition``) only when the post stream runs. ``None`` for ``pre_only``.
        background_logits: ``(B, C)`` background logits ``q`` for L_a2c (``p_agg = softmax([s_post, q])``
            over 2C entries); training with labels and L_a2c only. Rows of videos without a present
            class are 0 and unused.
    """

    cas: Tensor
    video_logits: Tensor
    pre_logits: Tensor | None = None
    post_logits: Tensor | None = None
    weights: Tensor | None = None
    background_logits: Tensor | None = None

    def float(self) -> ModelOutput:
        """The same outputs in float32 (after an autocast forward, so that the losses are float32)."""

        def wide(value: Tensor | None) -> Tensor | None:
            return None if value is None else value.float()

        return ModelOutput(
            self.cas.float(),
            self.video_logits.float(),
            wide(self.pre_logits),
            wide(self.post_logits),
            wide(self.weights),
            wide(self.background_logits),
        )


class WeightTransition(nn.Module):
    """Weight transition: ``A = sigmoid(Conv(C→K, kernel 1, bias)(S))`` on the raw CAS logits (K = C or 1)."""

    def __init__(self, num_classes: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(num_classes, out_channels, kernel_size=1)

    def forward(self, cas: Tensor) -> Tensor:
        """Time-major CAS logits ``(B, T, C)`` → weights ``(B, T, K)``."""
        return torch.sigmoid(temporal_conv(cas, self.conv))


class AttentionNetwork(nn.Module):
    """Learned attention (D)-H-H-[K]: Conv(k3) → LeakyReLU → Conv(k3) → LeakyReLU → Conv(k1) → sigmoid.

    Used by ``post_only`` (K = 1, class-agnostic) and ``no_transition`` (K = C, or 1 with
    ``class_agnostic_weights``) in place of the weight transition; it reads the raw features.
    """

    def __init__(self, feature_dim: int, hidden_dim: int, out_channels: int, *, leaky_slope: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(feature_dim, hidden_dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(hidden_dim, hidden_dim, kernel_size=3, padding=1)
        self.head = nn.Conv1d(hidden_dim, out_channels, kernel_size=1)
        self.leaky_slope = leaky_slope

    def forward(self, x: Tensor) -> Tensor:
        """Features ``(B, T, D)`` → weights ``(B, T, K)`` in (0, 1)."""
        h = nn.functional.leaky_relu(temporal_conv(x, self.conv1), self.leaky_slope)
        h = nn.functional.leaky_relu(temporal_conv(h, self.conv2), self.leaky_slope)
        return torch.sigmoid(temporal_conv(h, self.head))


class ECM(nn.Module):
    """The ECM network and the variants of the paper's ablations (Tables 4 and 5).

    Args:
        embedding: the shared embedding ``E``.
        classifier: the classifier ``Φ`` of the pre stream (and of the post stream when shared).
        spec: the variant (:func:`ecm.model.variants.parse_variant`).
        topk: ``k`` of the pre stream's top-k mean (``min(k, T)`` is used).
        folds: interleaved folds of the post stream.
        transition: weight-transition module (``spec.weight_source == "transition"``).
        attention: attention network (``spec.weight_source == "attention"``).
        post_classifier: the post stream's own classifier (``spec.shared_classifier`` off).
        aggregation: scaling of the post stream's fold sums (:data:`ecm.model.streams.AGGREGATIONS`).
        post_memory_mib: activation memory the post stream may keep before it recomputes (None: no bound).
    """

    def __init__(
        self,
        embedding: SnippetEmbedding,
        classifier: Classifier,
        *,
        spec: VariantSpec,
        topk: int,
        folds: int = 3,
        transition: WeightTransition | None = None,
        attention: AttentionNetwork | None = None,
        post_classifier: Classifier | None = None,
        aggregation: str = "sum",
        post_memory_mib: int | None = None,
    ) -> None:
        super().__init__()
        want_transition = spec.post_stream and spec.weight_source == "transition"
        want_attention = spec.post_stream and spec.weight_source == "attention"
        if (transition is not None) != want_transition or (attention is not None) != want_attention:
            raise ValueError(f"variant {spec} needs exactly one weight module of its weight_source")
        if (post_classifier is None) != spec.shared_classifier:
            raise ValueError("post_classifier must be given exactly when the classifier is not shared")
        if topk < 1 or folds < 1:
            raise ValueError(f"topk and folds must be ≥ 1, got {topk}, {folds}")
        self.embedding = embedding
        self.classifier = classifier
        self.transition = transition
        self.attention = attention
        self.post_classifier = post_classifier
        self.spec = spec
        self.topk = topk
        self.folds = folds
        self.aggregation = aggregation
        self.post_memory_mib = post_memory_mib

    def forward(self, features: Tensor, labels: Tensor | None = None) -> ModelOutput:
        """Run the streams.

        Args:
            features: ``(B, T, D)`` float snippet features (time-major, rgb ++ flow).
            labels: ``(B, C)`` multi-hot video labels; needed in training for the background branch
                (skipped when ``None``). Ignored in eval mode.

        Returns:
            :class:`ModelOutput` (see there for which fields are ``None`` when).
        """
        if features.dim() != 3 or features.shape[1] < 1:
            raise ValueError(f"features must be (B, T ≥ 1, D), got shape {tuple(features.shape)}")
        num_classes = self.classifier.weight.shape[0]
        if labels is not None and labels.shape != (features.shape[0], num_classes):
            raise ValueError(
                f"labels must be (B, C) = {(features.shape[0], num_classes)}, got {tuple(labels.shape)}"
            )
        spec = self.spec
        run_post = spec.post_stream and (self.training or not spec.pre_stream)
        length = features.shape[1]
        # First-layer taps of the raw features, shared by all streams: (B, F, J, K, H), fold-major.
        taps = self.embedding.input_taps(features, folds=self.folds if run_post else 1)

        # Pre-classification stream. post_only keeps the CAS for localization only (no gradient, no loss).
        with torch.set_grad_enabled(torch.is_grad_enabled() and spec.pre_stream):
            cas_tm = self.classifier(self.embedding.from_input_taps(taps, length))  # (B, T, C)
        cas = cas_tm.transpose(1, 2).contiguous()  # (B, C, T)
        k = min(self.topk, cas.shape[2])
        pre_logits = cas.topk(k, dim=2).values.mean(dim=2) if spec.pre_stream else None  # (B, C)

        weights_tm = None  # (B, T, C or 1)
        if self.transition is not None:
            weights_tm = self.transition(cas_tm)
        elif self.attention is not None and run_post:
            weights_tm = self.attention(features)
        weights = None if weights_tm is None else weights_tm.transpose(1, 2).contiguous()  # (B, C or 1, T)

        post_logits = background_logits = None
        if run_post:
            assert weights is not None
            post_logits, background_logits = post_classification(
                self.embedding,
                self.post_classifier if self.post_classifier is not None else self.classifier,
                taps,
                weights,
                labels=labels if (self.training and spec.a2c) else None,
                background=spec.background,
                aggregation=self.aggregation,
                memory_budget=None if self.post_memory_mib is None else self.post_memory_mib * 2.0**20,
            )
        video_logits = pre_logits if pre_logits is not None else post_logits
        assert video_logits is not None
        return ModelOutput(
            cas=cas,
            video_logits=video_logits,
            pre_logits=pre_logits,
            post_logits=post_logits,
            weights=weights,
            background_logits=background_logits,
        )


def build_model(cfg: ModelConfig, num_classes: int, feature_dim: int) -> ECM:
    """Build the model of ``cfg.variant`` for ``num_classes`` classes and ``feature_dim``-wide features."""
    spec = parse_variant(cfg.variant)
    hidden = cfg.hidden_dim if cfg.hidden_dim is not None else feature_dim
    weight_channels = 1 if spec.class_agnostic else num_classes
    transition = attention = None
    if spec.post_stream and spec.weight_source == "transition":
        transition = WeightTransition(num_classes, weight_channels)
    elif spec.post_stream:
        attention_hidden = cfg.attention_hidden_dim if cfg.attention_hidden_dim is not None else hidden
        attention = AttentionNetwork(
            feature_dim, attention_hidden, weight_channels, leaky_slope=cfg.leaky_slope
        )
    return ECM(
        SnippetEmbedding(feature_dim, hidden, dropout=cfg.dropout, leaky_slope=cfg.leaky_slope),
        Classifier(hidden, num_classes),
        spec=spec,
        topk=cfg.topk,
        folds=cfg.folds,
        transition=transition,
        attention=attention,
        post_classifier=None if spec.shared_classifier else Classifier(hidden, num_classes),
        aggregation=cfg.aggregation,
        post_memory_mib=cfg.post_memory_mib,
    )
