"""The OpenCV image operations that TV-L1 calls, in torch: the same float32 results as OpenCV 5's CPU code.

Each function names the OpenCV call it equals; tests/video/test_tvl1.py compares each with OpenCV itself
on the same arrays (equal bit for bit on x86-64 with AVX2, the code path pip's OpenCV wheels take there).
A fused multiply-add is emulated in float64: the product of two float32 numbers is exact there, so
the sum is rounded once, to float64, and then to float32.
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

_LOW_29 = (1 << 29) - 1  # the float64 mantissa bits that rounding to float32 drops
_HALF_29 = 1 << 28  # … when they make it exactly halfway


def _linear_taps(
    source: int, target: int, scale: float, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left index, right index and right weight of each of ``target`` outputs (cv::resize INTER_LINEAR)."""
    position = (np.arange(target, dtype=np.float64) + 0.5) * scale - 0.5
    left = np.floor(position).astype(np.int64)
    weight = (position - left).astype(np.float32)
    weight[left < 0] = 0.0
    left[left < 0] = 0
    weight[left >= source - 1] = 0.0
    left[left >= source - 1] = source - 1
    right = np.minimum(left + 1, source - 1)
    return (
        torch.from_numpy(left).to(device),
        torch.from_numpy(right).to(device),
        torch.from_numpy(weight).to(device),
    )


def _fma(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a·b + c`` of float32 tensors rounded once to float32, as a fused multiply-add instruction.

    The product is exact in float64 and the sum is rounded there; rounding that again to float32 is the
    single rounding except where the float64 sum falls exactly halfway between two float32 numbers (its
    low 29 mantissa bits 1 followed by zeros) while the exact sum does not: there the side of the exact
    sum (the float64 rounding error, by Knuth's TwoSum) picks the neighbour. (Sums in float32's
    subnormal range, below 1.2e-38, are not corrected.)
    """
    shape = torch.broadcast_shapes(a.shape, b.shape, c.shape)
    total = torch.empty(shape, dtype=torch.float64, device=a.device).copy_(a).mul_(b).add_(c)
    rounded = total.float()
    halfway = total.view(torch.int64).bitwise_and_(_LOW_29).eq_(_HALF_29)  # (``total`` is spent)
    if bool(halfway.any()):  # rare: only those are corrected
        where = halfway.nonzero(as_tuple=True)
        p = a.expand(shape)[where].double() * b.expand(shape)[where].double()
        q = c.expand(shape)[where].double()
        t, r = p + q, rounded[where]
        back = t - p
        error = (p - (t - back)) + (q - back)  # the exact sum − t (TwoSum)
        across = torch.nextafter(r, torch.where(t > r.double(), torch.inf, -torch.inf).float())
        better = (error != 0) & (torch.sign(across.double() - t) == torch.sign(error))
        rounded[where] = torch.where(better, across, r)
    return rounded


def _lerp(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``a + (b − a)·w``: the difference in float32, then one fused multiply-add."""
    difference = b - a
    return _fma(difference, weight, a)


def resize_linear(
    images: torch.Tensor, size: tuple[int, int], scale: tuple[float, float] | None = None
) -> torch.Tensor:
    """``cv2.resize(·, (W', H'), INTER_LINEAR)`` of float32 ``(…, H, W)`` images → ``(…, H', W')``.

    pip's OpenCV hands float linear resizes to Intel IPP; measured against it: each output coordinate
    ``(d + ½)·scale − ½`` in float64, the right neighbour's weight its fraction rounded to float32
    (which may round to 1), borders clamped, each 2-tap sum one fused multiply-add ``a + (b − a)·w``,
    rows first. Equal on every size tried, except a shrink whose last output row or column falls
    beyond the last input pixel: there IPP differs in the last bit on images that are not whole
    numbers (TV-L1's pyramid below its first level; never at the 224² default).

    Args:
        size: ``(H', W')``.
        scale: the inverse scale ``(sy, sx)`` to sample with: ``1 / fy`` when OpenCV is given the factor,
            else (default) ``H / H'`` and ``W / W'``.
    """
    height, width = images.shape[-2:]
    if scale is None:
        scale = (height / size[0], width / size[1])
    left, right, weight = _linear_taps(width, size[1], scale[1], images.device)
    rows = _lerp(images[..., left], images[..., right], weight)  # (…, H, W')
    top, bottom, weight = _linear_taps(height, size[0], scale[0], images.device)
    return _lerp(rows[..., top, :], rows[..., bottom, :], weight[:, None])


def centred_gradient(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """∂x and ∂y of ``(…, H, W)`` images: ``½ (next − previous)`` inside, ``½ (one-sided)`` on the borders."""
    dx = torch.empty_like(images)
    dy = torch.empty_like(images)
    dx[..., 1:-1] = 0.5 * (images[..., 2:] - images[..., :-2])
    dx[..., 0] = 0.5 * (images[..., 1] - images[..., 0])
    dx[..., -1] = 0.5 * (images[..., -1] - images[..., -2])
    dy[..., 1:-1, :] = 0.5 * (images[..., 2:, :] - images[..., :-2, :])
    dy[..., 0, :] = 0.5 * (images[..., 1, :] - images[..., 0, :])
    dy[..., -1, :] = 0.5 * (images[..., -1, :] - images[..., -2, :])
    return dx, dy


def _cubic_weights(fraction: torch.Tensor) -> list[torch.Tensor]:
    """Keys' cubic kernel (a = −0.75) at the 4 taps around a sample at ``fraction`` ∈ [0, 1), float32,
    as OpenCV 5's vectorised ``bicubicWeights`` computes it: w0 and w3 directly, w1 by fused
    multiply-adds, w2 as the remainder ``1 − w0 − w1 − w3``."""
    a = -0.75
    square = fraction * fraction
    rest = 1.0 - fraction
    w0 = a * (fraction * (rest * rest))
    w3 = a * (square * rest)
    w1 = _fma(
        square,
        _fma(torch.full_like(fraction, a + 2.0), fraction, torch.full_like(fraction, -(a + 3.0))),
        torch.ones_like(fraction),
    )
    w2 = ((1.0 - w0) - w1) - w3
    return [w0, w1, w2, w3]


def remap_cubic(images: torch.Tensor, flow_x: torch.Tensor, flow_y: torch.Tensor) -> torch.Tensor:
    """``cv2.remap(image, x + flow_x, y + flow_y, INTER_CUBIC)`` (zero outside) of ``(N, C, H, W)`` images.

    OpenCV 5's CPU path (``warp_kernels.simd.hpp``, ``bicubicVec``): the exact fraction of each position
    (no quantisation), the 4 × 4 taps around it, taps outside the image 0, each row summed
    ``v0·w0`` then three fused multiply-adds, the rows accumulated by fused multiply-adds.

    Args:
        flow_x, flow_y: ``(N, H, W)`` displacements in pixels.
    Returns:
        ``(N, C, H, W)``.
    """
    count, channels, height, width = images.shape
    device = images.device
    xs = torch.arange(width, device=device, dtype=torch.float32)
    ys = torch.arange(height, device=device, dtype=torch.float32)[:, None]
    map_x, map_y = xs + flow_x, ys + flow_y  # (N, H, W) float32, as OpenCV's buildFlowMap
    # Far-away positions are clamped first (their taps are all outside either way).
    map_x = map_x.clamp(-max(width, 16), 2 * max(width, 16))
    map_y = map_y.clamp(-max(height, 16), 2 * max(height, 16))
    left, top = torch.floor(map_x), torch.floor(map_y)
    weights_x, weights_y = _cubic_weights(map_x - left), _cubic_weights(map_y - top)
    left_index, top_index = left.long(), top.long()
    # One row and column of zeros around the image: every tap outside it reads a zero.
    padded = F.pad(images, (1, 1, 1, 1)).reshape(count, channels, (height + 2) * (width + 2))
    columns = [torch.clamp(left_index + (j - 1), -1, width) + 1 for j in range(4)]

    def tap(row: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
        index = (row + column).reshape(count, 1, height * width).expand(count, channels, -1)
        return padded.gather(2, index).reshape(count, channels, height, width)

    total = torch.zeros_like(images)
    for i in range(4):
        row = (torch.clamp(top_index + (i - 1), -1, height) + 1) * (width + 2)
        line = tap(row, columns[0]) * weights_x[0][:, None]
        for j in range(1, 4):
            line = _fma(tap(row, columns[j]), weights_x[j][:, None], line)
        total = _fma(line, weights_y[i][:, None], total)
    return total


# The median of a 5 × 5 window as a comparator network on its columns, each already sorted (wire
# 5·r + c holds rank r of column c): "a=b" puts min at a and max at b, "a<b" keeps only the min (at a),
# "a>b" only the max (at b); the median ends on wire 12. It is Batcher's 32-wire sorting network behind
# a sort of each row of ranks, with every comparator dropped that never swaps on column-sorted input or
# does not reach wire 12 — 116 operations instead of a sort of 25. The 0-1 principle proves it:
# tests/video/test_tvl1.py runs it on every column-sorted 0-1 window.
MEDIAN25 = (
    "0=1 3=4 2=4 2>3 0>3 1=4 1>3 5=6 8=9 7=9 7=8 5=8 5>7 6=9 6=8 6>7 10=11 13=14 12=14 12=13 10=13 "
    "10>12 11<14 11=13 11=12 15=16 18=19 17=19 17=18 15=18 15=17 16<19 16<18 16=17 20=21 23=24 22=24 "
    "22=23 20=23 20=22 21<24 21<23 21<22 9=11 17=20 3=7 4=8 11<13 4=7 11=12 16=17 3=9 4=11 7=9 8=11 "
    "4=7 8=9 11=12 20=21 3>15 4>16 7>17 8<20 9<21 9>15 11<16 12<17 8>11 12<15 11>12"
)
SORT5 = ((0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2))  # sorts 5 wires


def _comparators(network: str) -> list[tuple[int, str, int]]:
    return [(int(a), op, int(b)) for a, op, b in re.findall(r"(\d+)([=<>])(\d+)", network)]


def median_blur(images: torch.Tensor, size: int) -> torch.Tensor:
    """``cv2.medianBlur`` of float32 ``(N, C, H, W)`` images (``size`` 3 or 5): the exact median of each
    window, borders replicated."""
    count, channels, height, width = images.shape
    half = size // 2
    flat = images.reshape(count * channels, 1, height, width)
    padded = F.pad(flat, (half, half, half, half), mode="replicate")[:, 0]  # (N·C, H + 2h, W + 2h)
    if size == 3:
        windows = padded.unfold(1, 3, 1).unfold(2, 3, 1).reshape(count * channels, height, width, 9)
        return windows.median(dim=-1).values.reshape(count, channels, height, width)
    # Sort each vertical run of 5 once (shared by the 5 windows that contain it), then the network.
    rows = [padded[:, r : r + height] for r in range(5)]
    for a, b in SORT5:
        rows[a], rows[b] = torch.minimum(rows[a], rows[b]), torch.maximum(rows[a], rows[b])
    wires = [rows[r][:, :, c : c + width] for r in range(5) for c in range(5)]
    for a, op, b in _comparators(MEDIAN25):
        low = torch.minimum(wires[a], wires[b]) if op in "=<" else wires[a]
        if op in "=>":
            wires[b] = torch.maximum(wires[a], wires[b])
        wires[a] = low
    return wires[12].reshape(count, channels, height, width)
