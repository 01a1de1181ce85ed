"""The post-classification stream and its background branch, batched over the whole batch.

Both are weighted sums of the raw features over three interleaved folds (fold ``i`` holds snippets
``t ≡ i (mod 3)``), each embedded as a length-3 sequence by the shared ``E`` and scored class by class.
Everything here is one batched pass:

* every weighted sum — the action aggregates of all classes *and* the background aggregates — is one
  row of a ``(B, R, T)`` weight matrix, summed for all folds with one ``bmm``;
* the sums are taken of the first convolution's fold-major taps of the raw features (computed once, for
  the pre-classification stream), which equals aggregating the raw features and then applying the first,
  linear layer of ``E``; the rest of ``E`` runs once on all ``(B + P)·C`` length-3 sequences;
* the background branch works on the flat list of ``P`` (video, present class) pairs of the batch, padded
  per video to the largest count only inside the cheap weight matrix; no Python loop over videos/classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ecm.model.classifier import Classifier, SnippetEmbedding

__all__ = ["AGGREGATIONS", "fold_aggregate", "fold_normaliser", "post_classification"]

# How a fold's weighted sum is scaled: "sum" (the paper), "mean" (divided by the fold's weight mass Σ_t a_t),
# "length" (divided by the fold's snippet count).
AGGREGATIONS: tuple[str, ...] = ("sum", "mean", "length")


def fold_aggregate(weights: Tensor, taps: Tensor) -> Tensor:
    """Un-normalised weighted sums per interleaved fold.

    Args:
        weights: ``(B, R, T)`` one weight row per aggregate.
        taps: ``(B, F, J, K, H)`` fold-major per-snippet vectors (snippet ``t = j·F + i`` at ``[:, i, j]``,
            see :meth:`SnippetEmbedding.input_taps`), ``F·J ≥ T``. A fold may be empty (``T < F``); its
            sums are then 0.

    Returns:
        ``(B, R, F, K, H)`` with ``out[b, r, i] = Σ_{t ≡ i (mod F)} weights[b, r, t] · taps[b, t]``.
    """
    batch, folds, per_fold = taps.shape[:3]
    if weights.shape[2] != folds * per_fold:
        weights = F.pad(weights, (0, folds * per_fold - weights.shape[2]))
    weights_f = weights.unflatten(2, (per_fold, folds)).permute(0, 3, 1, 2).flatten(0, 1)  # (B·F, R, J)
    sums = torch.bmm(weights_f, taps.flatten(3).flatten(0, 1))  # (B·F, R, K·H), one bmm for all folds
    return sums.unflatten(0, (batch, folds)).transpose(1, 2).unflatten(-1, taps.shape[3:])


def fold_normaliser(weights: Tensor, folds: int, aggregation: str) -> Tensor | None:
    """What each fold's weighted sum is divided by under ``aggregation``; ``None`` for ``"sum"``.

    Args:
        weights: ``(B, R, T)`` weight rows.
        folds: ``F``.
        aggregation: one of :data:`AGGREGATIONS`.

    Returns:
        ``(B, R, F)``: the fold's weight mass ``Σ_{t ≡ i} a_t`` (``"mean"``) or its snippet count
        (``"length"``), at least 1e-6 (an empty fold, ``T < F``, has sums 0 and stays 0).
    """
    if aggregation == "sum":
        return None
    batch, rows, length = weights.shape
    per_fold = -(-length // folds)
    if aggregation == "mean":
        padded = F.pad(weights, (0, folds * per_fold - length))
        mass = padded.unflatten(2, (per_fold, folds)).sum(dim=2)  # (B, R, F)
    elif aggregation == "length":
        counts = torch.tensor([len(range(i, length, folds)) for i in range(folds)], dtype=weights.dtype)
        mass = counts.to(weights.device).expand(batch, rows, folds)
    else:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    return mass.clamp(min=1e-6)


def _score(classifier: Classifier, h: Tensor) -> Tensor:
    """Score embedded aggregates ``(N, R, H)``: R = C class-specific (row c by W[c]), R = 1 by every row."""
    if h.shape[1] == 1:
        return h[:, 0] @ classifier.weight.t()  # (N, C)
    return classifier.score_grouped(h)  # (N, C)


@dataclass(frozen=True)
class _Pairs:
    """The (video, present class) pairs of a batch, video-major with classes ascending (P pairs)."""

    video: Tensor  # (P,) video index b
    cls: Tensor  # (P,) present class g
    slot: Tensor  # (P,) rank of the pair among its video's pairs
    counts: Tensor  # (B,) present classes per video
    max_count: int  # G: the largest count

    @staticmethod
    def of(present: Tensor) -> _Pairs:
        video, cls = present.nonzero(as_tuple=True)
        counts = present.sum(dim=1)
        slot = torch.arange(video.numel(), device=present.device) - (counts.cumsum(0) - counts)[video]
        return _Pairs(video, cls, slot, counts, int(counts.max().item()) if counts.numel() else 0)


def _pair_background_rows(weights: Tensor, pairs: _Pairs) -> Tensor:
    """Rows ``A_c(t) · (1 − A_g(t))`` for every pair (b, g) and class c, padded per video to G pairs.

    ``(B, C, T)`` → ``(B, G·C, T)``; the rows of padding slots are 0 and never embedded.
    """
    batch, num_classes, length = weights.shape
    pair_rows = weights[pairs.video] * (1.0 - weights[pairs.video, pairs.cls]).unsqueeze(1)  # (P, C, T)
    padded = weights.new_zeros(batch, pairs.max_count, num_classes, length)
    return padded.index_put((pairs.video, pairs.slot), pair_rows).flatten(1, 2)


def _background_index(pairs: _Pairs | None, videos: Tensor | None) -> tuple[Tensor, Tensor]:
    """(video, slot) of each background sequence group in the ``(B, G, Kw)`` view of the background rows."""
    if pairs is not None:
        return pairs.video, pairs.slot
    assert videos is not None
    return videos, torch.zeros_like(videos)


def _score_block(
    embedding: SnippetEmbedding,
    classifier: Classifier,
    weights: Tensor,
    bg_rows: Tensor,
    taps: Tensor,
    bg_index: tuple[Tensor, Tensor] | None,
    aggregation: str,
    keep: Tensor | None,
) -> Tensor:
    """``E`` on the fold sums of a block of videos, mean over folds, scored by the classifier.

    Args:
        weights: ``(b, Kw, T)`` action rows; bg_rows: ``(b, G·Kw, T)`` background rows; taps: ``(b, F, J,
            K, H)``; bg_index: the (video, slot) of the block's background groups; keep: dropout mask or
            ``None`` (``E`` draws its own).

    Returns:
        ``(b + n, C)`` logits: the b videos' action aggregates, then the n background groups'.
    """
    num_weights = weights.shape[1]
    rows = torch.cat([weights, bg_rows], dim=1)  # (b, R, T)
    sums = fold_aggregate(rows, taps)  # (b, R, F, K, H)
    normaliser = fold_normaliser(rows, taps.shape[1], aggregation)  # (b, R, F) or None
    if normaliser is not None:  # the first layer is linear: scaling its taps scales the aggregate
        sums = sums / normaliser[..., None, None]
    action_sums, bg_sums = sums.split([num_weights, bg_rows.shape[1]], dim=1)
    parts = [action_sums.flatten(0, 1)]
    if bg_index is not None:
        parts.append(bg_sums.unflatten(1, (-1, num_weights))[bg_index].flatten(0, 1))
    seqs = torch.cat(parts)  # (N, F, K, H) length-F sequences
    h = embedding.from_input_taps(seqs.unsqueeze(1), keep=keep)  # (N, F, H): E on each sequence
    return _score(classifier, h.mean(dim=1).unflatten(0, (-1, num_weights)))  # mean over folds, (n, C)


def _score_in_blocks(
    embedding: SnippetEmbedding,
    classifier: Classifier,
    weights: Tensor,
    bg_rows: Tensor,
    taps: Tensor,
    bg_index: tuple[Tensor, Tensor] | None,
    aggregation: str,
    *,
    block: int,
    keep: Tensor | None,
) -> Tensor:
    """:func:`_score_block` over blocks of ``block`` videos, each recomputed in the backward pass
    (activation checkpointing) so that only one block's activations exist at a time and only logits are
    kept. ``keep`` is the whole stream's dropout mask, drawn once, so the result equals one pass."""
    batch, num_weights = weights.shape[:2]
    group_video = bg_index[0] if bg_index is not None else weights.new_zeros(0, dtype=torch.long)
    actions, backgrounds = [], []
    # One split per input: its backward assembles the blocks' gradients once (a slice per block would
    # allocate a zero-filled gradient of the whole input for every block).
    blocks = zip(weights.split(block), bg_rows.split(block), taps.split(block), strict=True)
    for first, args in zip(range(0, batch, block), blocks, strict=True):
        last = min(batch, first + block)
        lo, hi = torch.searchsorted(
            group_video, torch.tensor([first, last], device=group_video.device)
        ).tolist()
        index = None if bg_index is None else (bg_index[0][lo:hi] - first, bg_index[1][lo:hi])
        part_keep = None
        if keep is not None:
            seq = slice(first * num_weights, last * num_weights)
            bg_seq = slice((batch + lo) * num_weights, (batch + hi) * num_weights)
            part_keep = torch.cat([keep[seq], keep[bg_seq]])
        if torch.is_grad_enabled():
            h = checkpoint(
                _score_block,
                embedding,
                classifier,
                *args,
                index,
                aggregation,
                part_keep,
                use_reentrant=False,
                preserve_rng_state=False,
            )
        else:
            h = _score_block(embedding, classifier, *args, index, aggregation, part_keep)
        actions.append(h[: last - first])
        backgrounds.append(h[last - first :])
    return torch.cat(actions + backgrounds)


def post_classification(
    embedding: SnippetEmbedding,
    classifier: Classifier,
    taps: Tensor,
    weights: Tensor,
    *,
    labels: Tensor | None = None,
    background: Literal["implementation", "paper"] = "implementation",
    aggregation: str = "sum",
    memory_budget: float | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Post-classification logits ``s_post`` and, when ``labels`` is given, background logits ``q``.

    Args:
        embedding: the shared ``E`` (its dropout applies, a fresh mask per sequence).
        classifier: the classifier the post stream scores with (``W``).
        taps: ``(B, F, J, K, H)`` fold-major first-layer taps of the raw features,
            ``embedding.input_taps(x, folds=F)``.
        weights: ``(B, C, T)`` class-specific aggregation weights ``A``, or ``(B, 1, T)`` class-agnostic.
        labels: ``(B, C)`` multi-hot video labels (a class is present where the label is > 0); ``None``
            skips the background branch.
        background: ``"implementation"`` — for each present class g the features ``x ⊙ (1 − A_g)`` are
            aggregated with every class's ``A_c`` and scored, giving ``r_g ∈ R^C``; ``q[g] = r_g[g]`` for
            present g and ``q[c] = mean_g r_g[c]`` for absent c. ``"paper"`` — ``q[c]`` scores
            ``Σ_t (1 − A_c(t)) x_t`` with ``W[c]``. With class-agnostic weights a both forms reduce to
            one aggregate per video (``a(1 − a)`` resp. ``1 − a``) scored by every class.
        aggregation: ``"sum"`` (the paper's un-normalised sums), ``"mean"`` or ``"length"`` (each fold's
            sum divided by its weight mass or its snippet count, see :func:`fold_normaliser`).
        memory_budget: bytes the stream's stored activations may take, roughly; past it the videos are
            embedded in blocks that are recomputed in the backward pass instead of stored (same values,
            same dropout masks; ``None``: never).

    Returns:
        ``s_post`` ``(B, C)`` logits, and ``q`` ``(B, C)`` logits or ``None``. Rows of ``q`` for videos
        without a present class are 0 (no background is defined for them; the loss ignores them).
    """
    batch, num_weights, _ = weights.shape
    num_classes = classifier.weight.shape[0]
    if num_weights not in (1, num_classes):
        raise ValueError(f"weights have {num_weights} channels; expected 1 or C = {num_classes}")
    # Per-pair background (the implementation's form with class-specific weights), else one per video.
    pairs = videos = None
    bg_rows = weights[:, :0]  # (B, 0, T)
    if labels is not None:
        present = labels > 0  # (B, C)
        if num_weights > 1 and background == "implementation":
            pairs = _Pairs.of(present)
            bg_rows = _pair_background_rows(weights, pairs)  # (B, G·C, T)
        else:
            videos = present.any(dim=1).nonzero(as_tuple=True)[0]  # (B',) videos with a present class
            bg_rows = weights * (1.0 - weights) if background == "implementation" else 1.0 - weights

    # Background sequences: one per (pair, class) or per (video, weight row), video-major.
    bg_index = None if pairs is None and videos is None else _background_index(pairs, videos)
    folds, hidden = taps.shape[1], taps.shape[-1]
    num_bg = 0 if bg_index is None else int(bg_index[0].numel())
    sequences = (batch + num_bg) * num_weights
    rows = num_weights + bg_rows.shape[1]
    per_video = (
        taps.element_size()
        * folds
        * hidden
        * (rows * taps.shape[3] * 2 + sequences / max(batch, 1) * (2 * taps.shape[3] + 6))
    )  # bytes of the activations one video's weighted sums and E keep for the backward pass, roughly
    if memory_budget is None or per_video * batch <= memory_budget:
        # All weighted sums in one bmm, then E once on every length-F sequence.
        scores = _score_block(embedding, classifier, weights, bg_rows, taps, bg_index, aggregation, None)
    else:
        scores = _score_in_blocks(
            embedding,
            classifier,
            weights,
            bg_rows,
            taps,
            bg_index,
            aggregation,
            block=max(1, int(memory_budget // per_video)),
            keep=embedding.draw_keep((sequences, folds, hidden), taps.dtype, taps.device),
        )
    post_logits, scores = scores[:batch], scores[batch:]  # (B, C); (P, C) per pair, or (B', C) per video
    if labels is None:
        return post_logits, None

    if pairs is not None:
        counts = pairs.counts.clamp(min=1).to(scores.dtype).unsqueeze(1)  # (B, 1)
        mean = scores.new_zeros(batch, num_classes).index_add(0, pairs.video, scores) / counts  # (B, C)
        own = scores.gather(1, pairs.cls.unsqueeze(1)).squeeze(1)  # (P,) r_g[g]
        return post_logits, mean.index_put((pairs.video, pairs.cls), own)
    assert videos is not None
    return post_logits, scores.new_zeros(batch, num_classes).index_copy(0, videos, scores)
