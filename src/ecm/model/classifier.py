"""The shared snippet embedding ``E`` and the classifier ``Φ``, plus the small temporal-conv helpers.

Both are ``nn.Conv1d`` modules (default PyTorch initialisation, state-dict keys ``conv*.weight``), but they
run *time-major*: a sequence is ``(N, L, channels)`` and a kernel-``K`` convolution with ``K // 2``
zero padding is one matrix product with all ``K`` taps stacked, ``P[n, t, k] = W_k · x[n, t]``
(:func:`conv_taps`), followed by shifted adds ``y[n, t] = b + Σ_k P[n, t + k − K//2, k]``
(:func:`combine_taps`). That is exactly PyTorch's cross-correlation (``F.conv1d(x, W, b, padding=K // 2)``),
and it needs no transposes of the ``(B, T, D)`` features.

Splitting the first layer into taps lets the post-classification stream aggregate *after* the first
(linear) convolution: ``W_k · Σ_t a_t x_t = Σ_t a_t (W_k · x_t)``, so the taps of the raw features,
computed once for the pre-classification stream, are reused by every weighted sum (see
:mod:`ecm.model.streams`); the result equals ``E`` applied to the aggregated raw features, up to float
summation order. Those taps are laid out *fold-major*, ``(N, F, J, K, H)`` with snippet ``t = j·F + i`` at
``[:, i, j]`` (:func:`to_folds`), so that the per-fold sums read them in place; :func:`combine_fold_taps`
turns them back into a time-major output.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Classifier",
    "SnippetEmbedding",
    "combine_fold_taps",
    "combine_taps",
    "conv_taps",
    "temporal_conv",
    "to_folds",
]


def conv_taps(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """Per-tap products of a 1-D convolution, without bias.

    Args:
        x: ``(N, L, C_in)`` time-major sequences.
        conv: a ``Conv1d(C_in, C_out, K)`` (stride 1, dilation 1, groups 1); only its weight is used.

    Returns:
        ``(N, L, K, C_out)`` with ``P[n, t, k] = conv.weight[:, :, k] @ x[n, t]``.
    """
    c_out, c_in, taps = conv.weight.shape
    # (C_out, C_in, K) → (C_in, K·C_out): column k·C_out + o holds W[o, :, k].
    stacked = conv.weight.permute(1, 2, 0).reshape(c_in, taps * c_out)
    return (x @ stacked).unflatten(-1, (taps, c_out))  # (N, L, K, C_out)


def to_folds(x: Tensor, folds: int) -> Tensor:
    """Fold-major copy of a time-major sequence: ``(N, T, C) → (N, F, J, C)`` with ``J = ⌈T / F⌉``.

    ``out[n, i, j] = x[n, j·F + i]`` (fold ``i`` holds snippets ``t ≡ i mod F``); the ``F·J − T`` missing
    snippets at the end are zeros.
    """
    length = x.shape[1]
    per_fold = -(-length // folds)
    if per_fold * folds != length:
        x = F.pad(x, (0, 0, 0, per_fold * folds - length))
    return x.unflatten(1, (per_fold, folds)).transpose(1, 2).contiguous()


def _rows(per_fold: int, step: int) -> tuple[slice, slice]:
    """Rows ``j`` of the output and ``j + step`` of the input where both lie in ``[0, J)``."""
    start, stop = max(0, -step), min(per_fold, per_fold - step)
    stop = max(start, stop)
    return slice(start, stop), slice(start + step, stop + step)


class _ShiftAdd(torch.autograd.Function):
    """Fold-major taps ``(N, F, J, K, C)`` → time-major ``out[n, t] = bias + Σ_k P[n, t + k − K//2, k]``.

    Snippet ``t = j·F + i`` sits at fold ``i``, row ``j``; its neighbour ``t + s`` at fold ``(i + s) mod F``,
    row ``j + ⌊(i + s) / F⌋``. Backward writes each tap's gradient once, with no zero-filled full-size
    buffers per slice (which autograd's slice backward would allocate).
    """

    @staticmethod
    def forward(ctx: Any, taps: Tensor, bias: Tensor | None) -> Tensor:
        n, folds, per_fold, num_taps, channels = taps.shape
        pad = num_taps // 2
        out = taps.new_empty(n, per_fold, folds, channels)  # (N, J, F, C), time-major
        out.copy_(taps[:, :, :, pad].transpose(1, 2))
        if bias is not None:
            out += bias
        for k in range(num_taps):
            for i in range(folds):
                if k == pad:
                    continue
                step, src_fold = divmod(i + k - pad, folds)
                dst, src = _rows(per_fold, step)
                out[:, dst, i] += taps[:, src_fold, src, k]
        ctx.has_bias = bias is not None
        ctx.shape = taps.shape
        return out.flatten(1, 2)  # (N, J·F, C)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor | None]:
        folds, per_fold, num_taps = ctx.shape[1:4]
        pad = num_taps // 2
        grad_out = grad.reshape(grad.shape[0], per_fold, folds, grad.shape[2])  # (N, J, F, C)
        grad_taps = grad.new_empty(ctx.shape)  # (N, F, J, K, C)
        for k in range(num_taps):
            for i in range(folds):  # output fold i reads tap k from exactly one fold
                step, src_fold = divmod(i + k - pad, folds)
                dst, src = _rows(per_fold, step)
                grad_taps[:, src_fold, src, k] = grad_out[:, dst, i]
                grad_taps[:, src_fold, : src.start, k] = 0.0
                grad_taps[:, src_fold, max(src.start, src.stop) :, k] = 0.0
        grad_bias = grad.sum(dim=(0, 1)) if ctx.has_bias else None
        return grad_taps, grad_bias


def combine_fold_taps(taps: Tensor, bias: Tensor | None) -> Tensor:
    """Shift-and-add fold-major per-tap products into a zero-padded ("same") convolution output.

    Args:
        taps: ``(N, F, J, K, C)`` per-tap products of snippet ``t = j·F + i`` at ``[:, i, j]`` (K odd).
        bias: ``(C,)`` or ``None``.

    Returns:
        ``(N, J·F, C)`` time-major, ``y[n, t] = bias + Σ_k P[n, t + k − K//2, k]`` (0 outside ``[0, J·F)``).
    """
    if taps.shape[3] % 2 != 1:
        raise ValueError(f"need an odd number of taps, got {taps.shape[3]}")
    out: Tensor = _ShiftAdd.apply(taps, bias)
    return out


def combine_taps(taps: Tensor, bias: Tensor | None) -> Tensor:
    """Time-major :func:`combine_fold_taps`: ``(N, L, K, C) → (N, L, C)``,
    ``y[n, t] = bias + Σ_k taps[n, t + k − K//2, k]`` (terms outside ``[0, L)`` are 0)."""
    return combine_fold_taps(taps.unsqueeze(1), bias)


def _short_conv(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """:func:`temporal_conv` for ``L ≤ K``: one product per (output, tap) pair that lands inside the
    sequence — 7 instead of 9 for the length-3 fold sequences (the taps form would multiply padding)."""
    c_out, c_in, num_taps = conv.weight.shape
    pad = num_taps // 2
    # K column blocks (C_in, C_out) of the stacked weight: views, no copies.
    blocks = conv.weight.permute(1, 2, 0).reshape(c_in, num_taps * c_out).split(c_out, dim=1)
    steps = x.unbind(dim=1)  # L × (N, C_in)
    outputs = []
    for t in range(len(steps)):
        out = conv.bias
        for k in range(num_taps):
            if 0 <= t + k - pad < len(steps):
                term = steps[t + k - pad] @ blocks[k]  # (N, C_out)
                out = term if out is None else out + term
        assert out is not None
        outputs.append(out)
    return torch.stack(outputs, dim=1)  # (N, L, C_out)


def temporal_conv(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """``conv`` (odd kernel, zero "same" padding) applied to time-major ``x``: ``(N, L, C_in) → (N, L, C_out)``."""
    if x.shape[1] <= conv.kernel_size[0]:
        return _short_conv(x, conv)
    return combine_taps(conv_taps(x, conv), conv.bias)


class SnippetEmbedding(nn.Module):
    """Embedding ``E``: Conv(D→H, k3) → LeakyReLU → Conv(H→H, k3) → LeakyReLU → Dropout.

    Args:
        feature_dim: input width ``D`` (rgb ++ flow).
        hidden_dim: output width ``H`` (``D`` in the paper).
        dropout: dropout probability after the second activation.
        leaky_slope: negative slope of both LeakyReLUs.
        kernel_size: temporal kernel of both convolutions (odd; padded to keep the length).
    """

    def __init__(
        self, feature_dim: int, hidden_dim: int, *, dropout: float, leaky_slope: float, kernel_size: int = 3
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(feature_dim, hidden_dim, kernel_size, padding=pad)
        self.conv2 = nn.Conv1d(hidden_dim, hidden_dim, kernel_size, padding=pad)
        self.leaky_slope = leaky_slope
        self.dropout = nn.Dropout(dropout)

    @property
    def out_dim(self) -> int:
        """Output width ``H``."""
        return self.conv2.out_channels

    def input_taps(self, x: Tensor, folds: int = 1) -> Tensor:
        """First-layer taps of raw features, fold-major: ``(N, T, D) → (N, F, J, K, H)``, ``J = ⌈T / F⌉``.

        ``out[n, i, j, k] = conv1.weight[:, :, k] @ x[n, j·F + i]`` (linear in ``x``, no bias; zeros past
        ``T``). Fold-major taps let the post stream sum each fold without copying them.
        """
        return conv_taps(to_folds(x, folds), self.conv1)

    def from_input_taps(self, taps: Tensor, length: int | None = None, keep: Tensor | None = None) -> Tensor:
        """Finish ``E`` from fold-major first-layer taps (or weighted sums of them).

        ``(N, F, J, K, H) → (N, length, H)`` time-major (``length`` defaults to ``J·F``; snippets past it are
        padding and dropped). ``keep``: a dropout mask drawn beforehand (:meth:`draw_keep`, ``(N, length,
        H)`` bool) used instead of drawing one here; the result is bit for bit what drawing it here gives.
        """
        h = combine_fold_taps(taps, self.conv1.bias)  # (N, J·F, H)
        if length is not None and length != h.shape[1]:
            h = h[:, :length]
        h = F.leaky_relu(h, self.leaky_slope)
        h = F.leaky_relu(temporal_conv(h, self.conv2), self.leaky_slope)  # (N, L, H)
        if keep is None:
            return self.dropout(h)
        # Dropout multiplies by a noise tensor holding 0 or 1 / (1 − p) computed by an in-place division.
        scale = torch.ones((), dtype=h.dtype, device=h.device).div_(1.0 - self.dropout.p)
        return h * (keep.to(h.dtype) * scale)

    def draw_keep(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor | None:
        """The dropout mask ``self.dropout`` would draw for a ``shape`` output, as bool (``None`` when dropout
        is off: eval mode or p = 0, where no random number is used either).

        Drawn from the same random stream position with the same values: on CPU by one ``bernoulli_``
        (which draws the same mask for a bool tensor as for dropout's float one), elsewhere by dropout
        itself on ones.
        """
        p = self.dropout.p
        if not self.training or p == 0.0:
            return None
        if torch.device(device).type == "cpu":
            return torch.empty(shape, dtype=torch.bool, device=device).bernoulli_(1.0 - p)
        return F.dropout(torch.ones(shape, dtype=dtype, device=device), p, True) != 0

    def forward(self, x: Tensor) -> Tensor:
        """``E(x)`` on time-major sequences: ``(N, L, D) → (N, L, H)``."""
        return self.from_input_taps(self.input_taps(x))


class Classifier(nn.Module):
    """Classifier ``Φ``: Conv(H→C, kernel 1, no bias); weight ``W ∈ R^{C×H}``.

    Args:
        in_dim: embedding width ``H``.
        num_classes: ``C``.
    """

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, num_classes, kernel_size=1, bias=False)

    @property
    def weight(self) -> Tensor:
        """``W``: ``(C, H)`` (a view of the conv weight)."""
        return self.conv.weight[:, :, 0]

    def forward(self, h: Tensor) -> Tensor:
        """Score every snippet with every class: ``(N, L, H) → (N, L, C)`` logits."""
        return h @ self.weight.t()

    def score_grouped(self, h: Tensor) -> Tensor:
        """Class-specific scoring (paper Table 7): class ``c``'s aggregate only by row ``W[c]``.

        Args:
            h: ``(N, C, H)`` one embedded aggregate per class.

        Returns:
            ``(N, C)`` with ``out[n, c] = W[c] · h[n, c]`` (= a grouped 1×1 conv with ``groups = C``).
        """
        return torch.einsum("nch,ch->nc", h, self.weight)
