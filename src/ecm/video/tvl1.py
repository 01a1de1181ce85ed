"""TV-L1 optical flow in torch, batched, equal to OpenCV's ``DualTVL1OpticalFlow`` (its CPU code).

The method is the duality-based TV-L1 of Zach, Pock and Bischof (2007) in the formulation of Sánchez,
Meinhardt-Llopis and Facciolo (IPOL 2013), as ``opencv_contrib/modules/optflow/src/tvl1flow.cpp`` implements
it. Every step follows that file and the OpenCV functions it calls (:mod:`ecm.video.cvops`), in float32
with OpenCV's order of operations, so that the flow is OpenCV 5's bit for bit where OpenCV runs its AVX2
code (x86-64 with AVX2 and FMA, which pip's wheels pick there):

1. **Input.** Greyscale uint8 frames, converted to float32 unchanged (0…255).
2. **Pyramid.** Level s is ``cv::resize(level s−1, fx = fy = scale_step, INTER_LINEAR)`` with no blur: the
   new size is the rounded ``scale_step × size`` (224 → 179 → 143 → 114 → 91), the sampling uses the given
   factor (inverse scale exactly ``1 / scale_step``). Building stops early where a side would be < 16 px.
3. **Coarsest level** starts from u = 0. After a level, the flow is resized to the next finer level's size
   (``INTER_LINEAR``, sizes given) and multiplied by ``1 / scale_step``.
4. **Per level:** the centred gradient of I1 (the second frame), once: interior ``½ (next − previous)``,
   on the borders ``½ (one-sided difference)``. The dual variables p11, p12, p21, p22 start at 0 and are
   kept across the level's warps.
5. **Per warp** (``warps``): I1 and its two gradients are sampled at (x + u1, y + u2) by bicubic
   interpolation (``cv::remap``, ``INTER_CUBIC``: Keys' kernel with a = −0.75, taps outside the image
   count as 0); then ``grad = I1wx² + I1wy²`` and ``ρc = I1w − I1wx·u1 − I1wy·u2 − I0``.
6. **Outer loop** (≤ ``outer_iterations``): a 5 × 5 median filter of u1 and u2 (replicated borders) at the
   start of each, the first included.
7. **Inner loop** (≤ ``inner_iterations``): the thresholding step v = u + d, with ρ = ρc + (I1wx·u1 +
   I1wy·u2) and three branches of ρ against ±λθ·grad (the middle one, d = −ρ/grad · ∇I1w, only where
   grad > FLT_EPSILON); the divergence of p (backward differences, zero outside; the first column summed
   as ``(p_x + p_y) − p_y[y−1]``); u = v + θ·div p; the error Σ (Δu1² + Δu2²) over the level; the forward
   gradient of u (zero across the last row and column); p ← (p + (τ/θ)∇u) / (1 + (τ/θ)|∇u|), |∇u| by
   ``hypot`` in double.
8. **Stopping.** The error is "infinite" at the start of each warp; both loops stop once it is
   ≤ ε²·H·W at that level's size. OpenCV adds the error's terms one by one in float32; here they are
   summed in float64, and summed OpenCV's way where that sum is too close to the threshold to decide.
   The test is per pair: in a batch a converged pair stops changing while the others go on, so each pair
   gets the flow it would get alone.

Not equal: OpenCV 4 (its ``remap`` quantised positions to 1/32 px and summed without fused
multiply-adds), OpenCV 5 on a CPU without AVX2 (plain multiply-adds in ``remap``), and the CUDA class
``cv::cuda::OpticalFlowDual_TVL1``, another variant (no median filter, its own stopping and bicubic).
Parameters: ``gamma`` (the illumination term) and ``useInitialFlow`` are not offered.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch

from ecm.video.cvops import centred_gradient, median_blur, remap_cubic, resize_linear

FLT_EPSILON = float(np.finfo(np.float32).eps)
MIN_LEVEL_SIDE = 16  # pixels: the pyramid stops before a level with a shorter side
BYTES_PER_PIXEL = 1024  # solver memory per pair and pixel: about 800 measured on the CPU, rounded up
CPU_BATCH = 8  # pairs per solver call on the CPU: the fastest on the benchmark (bench_extract.py)


@dataclass(frozen=True)
class TVL1Params:
    """The parameters of ``cv2.optflow.DualTVL1OpticalFlow_create()``, with its defaults.

    Attributes:
        tau: time step of the dual update.
        lambda_: weight of the data term (OpenCV's ``lambda``).
        theta: coupling of u and v.
        nscales: pyramid levels at most.
        warps: warpings per level.
        epsilon: stopping threshold (the error is compared with ε²·H·W).
        inner_iterations, outer_iterations: iteration limits per warp (the median filter runs per outer one).
        scale_step: size ratio of consecutive levels.
        median_filtering: median filter size (1: none; 3 or 5).
    """

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    median_filtering: int = 5

    def __post_init__(self) -> None:
        if not (self.tau > 0 and self.lambda_ > 0 and self.theta > 0 and self.epsilon >= 0):
            raise ValueError("tau, lambda and theta must be > 0, epsilon ≥ 0")
        if min(self.nscales, self.warps, self.inner_iterations, self.outer_iterations) < 1:
            raise ValueError("nscales, warps and the iteration counts must be ≥ 1")
        if not 0 < self.scale_step < 1:
            raise ValueError(f"scale_step must lie in (0, 1), got {self.scale_step}")
        if self.median_filtering not in (0, 1, 3, 5):
            raise ValueError(f"median_filtering must be 1 (off), 3 or 5, got {self.median_filtering}")

    @classmethod
    def with_overrides(cls, **params: Any) -> TVL1Params:
        """The defaults with ``params`` replaced (``lambda`` is accepted for ``lambda_``)."""
        if "lambda" in params:
            params["lambda_"] = params.pop("lambda")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise TypeError(f"unknown TV-L1 parameter(s) {unknown}; known: {sorted(known)}")
        return replace(cls(), **params)


def pyramid_sizes(height: int, width: int, params: TVL1Params) -> list[tuple[int, int]]:
    """``(H, W)`` of each level, finest first, as OpenCV builds them.

    >>> pyramid_sizes(224, 224, TVL1Params())
    [(224, 224), (179, 179), (143, 143), (114, 114), (91, 91)]
    """
    sizes = [(height, width)]
    for _ in range(1, params.nscales):
        h, w = sizes[-1]
        # cv::resize with fx = fy: dsize = saturate_cast<int>(size · scale), a rounding half to even.
        smaller = (round(h * params.scale_step), round(w * params.scale_step))
        if min(smaller) < MIN_LEVEL_SIDE:
            break
        sizes.append(smaller)
    return sizes


# ---------------------------------------------------------------------------------------------------------
# The solver.


@dataclass
class _Warp:
    """One warp's inner-loop inputs and state for the ``n`` pairs being iterated, with reused buffers.

    The constant part (from the warped second frame) is fixed for the warp; ``u`` and ``p`` change.
    Every buffer is allocated once per warp and written with ``out=`` or in place: fresh tensors on
    every iteration cost more than the arithmetic on a CPU.
    """

    gradient: torch.Tensor  # (n, 2, H, W): I1wx, I1wy
    rho_c: torch.Tensor  # (n, H, W)
    bound: torch.Tensor  # (n, H, W): λθ·|∇I1w|²
    low: torch.Tensor  # (n, H, W): −λθ·|∇I1w|²
    flat: torch.Tensor  # (n, H, W) bool: |∇I1w|² ≤ FLT_EPSILON
    grad: torch.Tensor  # (n, H, W): |∇I1w|²
    u: torch.Tensor  # (n, 2, H, W)
    p: torch.Tensor  # (n, 2, 2, H, W): (flow component, x/y)

    @classmethod
    def start(
        cls, gradient: torch.Tensor, rho_c: torch.Tensor, u: torch.Tensor, p: torch.Tensor, l_t: float
    ) -> _Warp:
        grad = gradient[:, 0] * gradient[:, 0] + gradient[:, 1] * gradient[:, 1]
        bound = l_t * grad
        return cls(gradient, rho_c, bound, -bound, grad <= FLT_EPSILON, grad, u.clone(), p.clone())

    def take(self, keep: torch.Tensor) -> _Warp:
        """The pairs where ``keep`` is true."""
        return _Warp(*(getattr(self, f.name)[keep] for f in fields(self)))


class _Buffers:
    """Scratch tensors of one inner iteration for ``n`` pairs of ``H × W``."""

    def __init__(self, u: torch.Tensor) -> None:
        n, _, height, width = u.shape
        self.rho = torch.empty((n, height, width), dtype=u.dtype, device=u.device)
        self.fi = torch.empty_like(self.rho)
        self.mask = torch.empty(self.rho.shape, dtype=torch.bool, device=u.device)
        self.v = torch.empty_like(u)
        self.div = torch.empty_like(u)
        self.spare = torch.empty_like(u)
        self.new_u = torch.empty_like(u)
        self.norm = torch.empty_like(u)
        self.wide = torch.empty((3, n, 2, height, width), dtype=torch.float64, device=u.device)  # for hypot
        # Forward differences: the last column of ∂x and the last row of ∂y stay 0.
        self.du = torch.zeros((n, 2, 2, height, width), dtype=u.dtype, device=u.device)


def _iterate(state: _Warp, scratch: _Buffers, params: TVL1Params) -> tuple[torch.Tensor, torch.Tensor]:
    """One inner iteration: a new ``state.u`` (in a scratch buffer) and ``state.p`` in place.

    Returns the error of each pair summed in float64 ``(n,)`` and its terms Δu1² + Δu2² ``(n, H, W)``
    (float32, valid until the next iteration).

    Each float32 operation is OpenCV's, in its order (``estimateV``, ``divergence``, ``estimateU``,
    ``forwardGradient``, ``estimateDualVariables``).
    """
    l_t = np.float32(params.lambda_ * params.theta).item()
    theta = np.float32(params.theta).item()
    taut = np.float32(params.tau / params.theta).item()
    u, p, gradient = state.u, state.p, state.gradient
    rho, fi, mask = scratch.rho, scratch.fi, scratch.mask
    # v = u + fi · ∇I1w, ρ = ρc + (I1wx·u1 + I1wy·u2); fi = λθ, −λθ, −ρ/|∇I1w|² or 0 by the branch of ρ.
    torch.mul(gradient[:, 0], u[:, 0], out=rho)
    torch.mul(gradient[:, 1], u[:, 1], out=fi)
    rho.add_(fi).add_(state.rho_c)
    torch.div(rho, state.grad, out=fi).neg_()
    fi.masked_fill_(state.flat, 0.0)
    fi.masked_fill_(torch.lt(rho, state.low, out=mask), l_t)
    fi.masked_fill_(torch.gt(rho, state.bound, out=mask), -l_t)
    v = torch.mul(gradient, fi[:, None], out=scratch.v).add_(u)
    # div p: backward differences, zero outside (p_x[x] − p_x[x−1]) + (p_y[y] − p_y[y−1]).
    div, spare = scratch.div, scratch.spare
    px, py = p[:, :, 0], p[:, :, 1]
    div[..., 0].copy_(px[..., 0])
    torch.sub(px[..., 1:], px[..., :-1], out=div[..., 1:])
    spare[..., 0, :].copy_(py[..., 0, :])
    torch.sub(py[..., 1:, :], py[..., :-1, :], out=spare[..., 1:, :])
    div.add_(spare)
    # The first column is OpenCV's (p_x + p_y[y]) − p_y[y−1], summed in that order.
    torch.add(p[:, :, 0, 1:, 0], p[:, :, 1, 1:, 0], out=div[:, :, 1:, 0]).sub_(p[:, :, 1, :-1, 0])
    # u = v + θ · div p, and the error Σ (Δu1² + Δu2²).
    new_u = torch.add(v, div.mul_(theta), out=scratch.new_u)
    change = torch.sub(new_u, u, out=spare)
    change.mul_(change)
    terms = torch.add(change[:, 0], change[:, 1], out=rho)
    error = terms.sum(dim=(1, 2), dtype=torch.float64)
    state.u, scratch.new_u = new_u, u  # the new u; the old one's memory is the next iteration's scratch
    u = new_u
    # p = (p + τ/θ · ∇u) / (1 + τ/θ · |∇u|), ∇u by forward differences.
    du = scratch.du
    torch.sub(u[..., 1:], u[..., :-1], out=du[:, :, 0, :, :-1])
    torch.sub(u[..., 1:, :], u[..., :-1, :], out=du[:, :, 1, :-1, :])
    # |∇u| as OpenCV takes it: hypot in double, rounded to float.
    wide = scratch.wide
    wide[0].copy_(du[:, :, 0])
    wide[1].copy_(du[:, :, 1])
    norm = scratch.norm.copy_(torch.hypot(wide[0], wide[1], out=wide[2])).mul_(taut).add_(1.0)
    p.add_(du.mul_(taut)).div_(norm[:, :, None])
    return error, terms


def _converged(error: torch.Tensor, terms: torch.Tensor, threshold: float) -> np.ndarray:
    """Whether each pair's error is ≤ ``threshold`` as OpenCV decides it: ``(n,)`` bool.

    OpenCV adds the terms one by one, row by row, in float32. The float64 sum decides wherever that
    float32 sum cannot land on the other side of the threshold (its rounding error is at most
    ``(count − 1)·2⁻²⁴`` of the sum); the few pairs closer than that are summed OpenCV's way.
    """
    total = error.cpu().numpy()
    count = terms[0].numel()
    near = np.abs(total - threshold) <= total * count * 2.0**-24 + np.finfo(np.float32).tiny
    decided = total.astype(np.float32) <= np.float32(threshold)
    for index in np.flatnonzero(near):
        flat = terms[int(index)].reshape(-1).cpu().numpy()
        decided[index] = np.cumsum(flat, dtype=np.float32)[-1] <= np.float32(threshold)
    return decided


def _solve_warp(state: _Warp, params: TVL1Params, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The outer and inner loops of one warp for every pair of ``state``; returns the final u and p.

    Pairs stop one by one: a pair whose error falls to ``threshold`` is copied out at that iteration
    and never changes again; the rest go on. The working set shrinks once a quarter of it is done.
    """
    device = state.u.device
    final_u, final_p = state.u.clone(), state.p.clone()
    work = np.arange(state.u.shape[0])  # the pair of each working row
    live = np.ones(len(work), dtype=bool)
    scratch = _Buffers(state.u)
    for step in range(params.outer_iterations * params.inner_iterations):
        if params.median_filtering > 1 and step % params.inner_iterations == 0:
            state.u.copy_(median_blur(state.u, params.median_filtering))
        error, terms = _iterate(state, scratch, params)
        done = live & _converged(error, terms, threshold)
        if done.any():
            rows = torch.from_numpy(np.flatnonzero(done)).to(device)
            pairs = torch.from_numpy(work[done]).to(device)
            final_u[pairs] = state.u[rows]
            final_p[pairs] = state.p[rows]
            live &= ~done
            if not live.any():
                return final_u, final_p
            if live.sum() <= 3 * len(live) // 4:
                state = state.take(torch.from_numpy(np.flatnonzero(live)).to(device))
                work, live = work[live], live[live]
                scratch = _Buffers(state.u)
    rows = torch.from_numpy(np.flatnonzero(live)).to(device)
    pairs = torch.from_numpy(work[live]).to(device)
    final_u[pairs] = state.u[rows]
    final_p[pairs] = state.p[rows]
    return final_u, final_p


def _solve_level(
    first: torch.Tensor, second: torch.Tensor, u: torch.Tensor, params: TVL1Params
) -> torch.Tensor:
    """Flow ``(N, 2, H, W)`` at one level, from images ``(N, H, W)`` and the initial flow ``u``."""
    count, height, width = first.shape
    threshold = float(np.float32(params.epsilon * params.epsilon * height * width))
    l_t = np.float32(params.lambda_ * params.theta).item()
    dx, dy = centred_gradient(second)
    images = torch.stack([second, dx, dy], dim=1)  # (N, 3, H, W)
    p = torch.zeros((count, 2, 2, height, width), dtype=torch.float32, device=first.device)
    for _ in range(params.warps):
        warped = remap_cubic(images, u[:, 0], u[:, 1])
        gradient = warped[:, 1:]
        rho_c = warped[:, 0] - gradient[:, 0] * u[:, 0] - gradient[:, 1] * u[:, 1] - first
        u, p = _solve_warp(_Warp.start(gradient, rho_c, u, p, l_t), params, threshold)
    return u


def _flow(first: torch.Tensor, second: torch.Tensor, params: TVL1Params) -> torch.Tensor:
    """TV-L1 flow ``(N, 2, H, W)`` of float32 images ``(N, H, W)`` (0…255)."""
    sizes = pyramid_sizes(first.shape[1], first.shape[2], params)
    inverse = 1.0 / params.scale_step
    levels = [torch.stack([first, second])]  # (2, N, H, W) per level, finest first
    for size in sizes[1:]:
        levels.append(resize_linear(levels[-1], size, (inverse, inverse)))
    u = torch.zeros((first.shape[0], 2, *sizes[-1]), dtype=torch.float32, device=first.device)
    for level in range(len(sizes) - 1, -1, -1):
        u = _solve_level(levels[level][0], levels[level][1], u, params)
        if level > 0:
            u = resize_linear(u, sizes[level - 1]) * np.float32(inverse).item()
    return u


def _as_frames(frames: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(frames)
    if tensor.dtype != torch.uint8 or tensor.dim() not in (2, 3):
        raise ValueError(
            f"{name} must be greyscale uint8 frames (B, H, W), got {tuple(tensor.shape)} {tensor.dtype}"
        )
    return tensor if tensor.dim() == 3 else tensor[None]


def pairs_per_batch(height: int, width: int, memory_mib: float) -> int:
    """How many pairs of ``H × W`` frames one solver batch may hold within ``memory_mib`` MiB (≥ 1)."""
    return max(1, int(memory_mib * 2**20 // (BYTES_PER_PIXEL * height * width)))


def tvl1_torch(
    first: np.ndarray | torch.Tensor,
    second: np.ndarray | torch.Tensor,
    *,
    device: str | torch.device | None = None,
    batch: int | None = None,
    memory_mib: float | None = None,
    **params: Any,
) -> torch.Tensor:
    """TV-L1 flow from each frame of ``first`` to the same frame of ``second``, as OpenCV computes it.

    Args:
        first, second: greyscale uint8 frames ``(B, H, W)`` (or one ``(H, W)`` pair), numpy or torch.
        device: where to compute (default: the device of ``first`` when it is a tensor, else CPU).
        batch: pairs solved together (default: :data:`CPU_BATCH` on the CPU, where larger batches leave
            the caches; on CUDA as many as ``memory_mib`` holds).
        memory_mib: bound on the solver's working memory, which cuts ``batch`` further (default: 1024
            MiB on the CPU, a quarter of the free memory on CUDA).
        params: :class:`TVL1Params` fields overriding OpenCV's defaults (``tau``, ``lambda_``, …).
    Returns:
        ``(B, H, W, 2)`` float32 on ``device``: the displacement (x, y) in pixels of each pixel of ``first``.
    """
    options = TVL1Params.with_overrides(**params)
    one, two = _as_frames(first, "first"), _as_frames(second, "second")
    if one.shape != two.shape:
        raise ValueError(f"first and second differ in shape: {tuple(one.shape)} and {tuple(two.shape)}")
    count, height, width = one.shape
    if min(height, width) < 3:
        raise ValueError(f"frames must be at least 3 × 3 pixels, got {(height, width)}")
    if device is not None:
        target = torch.device(device)
    else:
        target = one.device if isinstance(first, torch.Tensor) else torch.device("cpu")
    if memory_mib is None:
        memory_mib = 1024.0
        if target.type == "cuda":
            memory_mib = torch.cuda.mem_get_info(target)[0] / 4 / 2**20
    size = pairs_per_batch(height, width, memory_mib)
    if batch is not None or target.type == "cpu":
        size = min(size, max(1, batch if batch is not None else CPU_BATCH))
    parts = [torch.empty((0, height, width, 2), dtype=torch.float32, device=target)]
    with torch.no_grad():
        for start in range(0, count, size):
            images = [x[start : start + size].to(target, non_blocking=True).float() for x in (one, two)]
            parts.append(_flow(images[0], images[1], options).permute(0, 2, 3, 1))
    return torch.cat(parts)
