"""I3D (ecm.video.i3d): architecture, public key naming, "same" padding, loading and the hassony2 key map.

The expectations are written here from the architecture (Carreira & Zisserman 2017, Inception-v1 inflated),
not read back from the module.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ecm.errors import InputError
from ecm.video.i3d import (
    I3D,
    SamePadMaxPool3d,
    convert_hassony2,
    is_hassony2,
    load_i3d,
    same_padding,
)

# Stem units: name, input channels (None = image channels), output channels, kernel.
STEM = [
    ("Conv3d_1a_7x7", None, 64, (7, 7, 7)),
    ("Conv3d_2b_1x1", 64, 64, (1, 1, 1)),
    ("Conv3d_2c_3x3", 64, 192, (3, 3, 3)),
]
# Inception blocks: input channels and (b0, b1a, b1b, b2a, b2b, b3b) output channels.
MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}
MIXED_OUT = {
    "Mixed_3b": 256,
    "Mixed_3c": 480,
    "Mixed_4b": 512,
    "Mixed_4c": 512,
    "Mixed_4d": 512,
    "Mixed_4e": 528,
    "Mixed_4f": 832,
    "Mixed_5b": 832,
    "Mixed_5c": 1024,
}
# (channels, T, H, W) after each end point for a 16 × 224 × 224 clip.
SHAPES_224 = {
    "Conv3d_1a_7x7": (64, 8, 112, 112),
    "MaxPool3d_2a_3x3": (64, 8, 56, 56),
    "Conv3d_2b_1x1": (64, 8, 56, 56),
    "Conv3d_2c_3x3": (192, 8, 56, 56),
    "MaxPool3d_3a_3x3": (192, 8, 28, 28),
    "Mixed_3b": (256, 8, 28, 28),
    "Mixed_3c": (480, 8, 28, 28),
    "MaxPool3d_4a_3x3": (480, 4, 14, 14),
    "Mixed_4b": (512, 4, 14, 14),
    "Mixed_4c": (512, 4, 14, 14),
    "Mixed_4d": (512, 4, 14, 14),
    "Mixed_4e": (528, 4, 14, 14),
    "Mixed_4f": (832, 4, 14, 14),
    "MaxPool3d_5a_2x2": (832, 2, 7, 7),
    "Mixed_5b": (832, 2, 7, 7),
    "Mixed_5c": (1024, 2, 7, 7),
}
# Parameters (conv weights + BN weight and bias + the 1024 → 400 logits conv with bias), from the tables:
# trunk 12,287,264 with RGB input (12,265,312 with flow: the first conv has 64·7³ = 21,952 fewer) + 410,000.
PARAMS_RGB = 12_697_264
PARAMS_FLOW = 12_675_312


def expected_state(in_channels: int, num_classes: int = 400) -> dict[str, tuple[int, ...]]:
    """Public (piergiaj) key → shape, without ``num_batches_tracked``, built from the tables above."""
    shapes: dict[str, tuple[int, ...]] = {}

    def unit(prefix: str, c_in: int, c_out: int, kernel: tuple[int, int, int]) -> None:
        shapes[f"{prefix}.conv3d.weight"] = (c_out, c_in, *kernel)
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.bn.{leaf}"] = (c_out,)

    for name, c_in, c_out, kernel in STEM:
        unit(name, in_channels if c_in is None else c_in, c_out, kernel)
    one, cube = (1, 1, 1), (3, 3, 3)
    for name, (c_in, (c0, c1a, c1b, c2a, c2b, c3b)) in MIXED.items():
        unit(f"{name}.b0", c_in, c0, one)
        unit(f"{name}.b1a", c_in, c1a, one)
        unit(f"{name}.b1b", c1a, c1b, cube)
        unit(f"{name}.b2a", c_in, c2a, one)
        unit(f"{name}.b2b", c2a, c2b, cube)
        unit(f"{name}.b3b", c_in, c3b, one)
    shapes["logits.conv3d.weight"] = (num_classes, 1024, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (num_classes,)
    return shapes


def random_state(in_channels: int, num_classes: int = 400) -> dict[str, torch.Tensor]:
    """A state dict in the public naming with random values (as the 2018 files: no ``num_batches_tracked``)."""
    gen = torch.Generator().manual_seed(in_channels)
    state = {}
    for key, shape in expected_state(in_channels, num_classes).items():
        value = torch.rand(shape, generator=gen)
        state[key] = value + 0.5 if key.endswith("running_var") else value * 0.1
    return state


def to_hassony2(key: str) -> str:
    """Public key → ``hassony2/kinetics_i3d_pytorch`` key (``src/i3dpt.py`` module names), written independently."""
    top = {
        "Conv3d_1a_7x7": "conv3d_1a_7x7",
        "Conv3d_2b_1x1": "conv3d_2b_1x1",
        "Conv3d_2c_3x3": "conv3d_2c_3x3",
        "logits": "conv3d_0c_1x1",
    }
    branch = {
        "b0": "branch_0",
        "b1a": "branch_1.0",
        "b1b": "branch_1.1",
        "b2a": "branch_2.0",
        "b2b": "branch_2.1",
        "b3b": "branch_3.1",
    }
    parts = key.split(".")
    if parts[0].startswith("Mixed_"):
        parts = ["mixed_" + parts[0][len("Mixed_") :], branch[parts[1]], *parts[2:]]
    else:
        parts[0] = top[parts[0]]
    return ".".join("batch3d" if part == "bn" else part for part in parts)


@pytest.fixture(scope="module")
def rgb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("i3d") / "rgb_imagenet.pt"
    torch.save(random_state(3), path)
    return path


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def table_params(in_channels: int) -> int:
    return sum(
        math.prod(shape)
        for key, shape in expected_state(in_channels).items()
        if not key.endswith(("running_mean", "running_var"))
    )


def test_parameter_counts() -> None:
    assert table_params(3) == PARAMS_RGB and table_params(2) == PARAMS_FLOW
    assert n_params(I3D(3)) == PARAMS_RGB
    assert n_params(I3D(2)) == PARAMS_FLOW


@pytest.mark.parametrize("in_channels", [3, 2])
def test_state_dict_names_and_shapes(in_channels: int) -> None:
    state = I3D(in_channels).state_dict()
    tracked = {key for key in state if key.endswith(".bn.num_batches_tracked")}
    shapes = {key: tuple(value.shape) for key, value in state.items() if key not in tracked}
    assert shapes == expected_state(in_channels)
    assert len(tracked) == len(STEM) + 6 * len(MIXED)  # every unit but logits has a BatchNorm


def test_block_and_branch_channels() -> None:
    model = I3D(3).eval()
    out = model.endpoints(torch.rand(1, 3, 4, 32, 32) * 2 - 1)
    for name, channels in MIXED_OUT.items():
        assert out[name].shape[1] == channels, name
        c_in, (c0, c1a, c1b, c2a, c2b, c3b) = MIXED[name]
        assert c0 + c1b + c2b + c3b == channels
        block = model.get_submodule(name)
        x = torch.rand(1, c_in, 2, 4, 4)
        with torch.no_grad():
            got = [block.b0(x), block.b1a(x), block.b1b(block.b1a(x)), block.b2a(x)]
            got += [block.b2b(block.b2a(x)), block.b3b(block.b3a(x))]
        assert [t.shape[1] for t in got] == [c0, c1a, c1b, c2a, c2b, c3b], name


def test_same_padding_rule() -> None:
    # TF "same": output ⌈n/s⌉, total padding (⌈n/s⌉ − 1)·s + k − n (≥ 0), the odd element after.
    for n in range(1, 40):
        for k in (1, 2, 3, 7):
            for s in (1, 2):
                total = max((math.ceil(n / s) - 1) * s + k - n, 0)
                assert same_padding(n, k, s) == (total // 2, total - total // 2), (n, k, s)
    assert same_padding(16, 7, 2) == (2, 3) and same_padding(224, 7, 2) == (2, 3)
    assert same_padding(112, 3, 2) == (0, 1) and same_padding(8, 3, 2) == (0, 1)
    assert same_padding(4, 2, 2) == (0, 0) and same_padding(7, 2, 2) == (0, 1)


def test_max_pool_pads_with_zeros_after() -> None:
    pool = SamePadMaxPool3d((1, 1, 2), (1, 1, 2))
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 1, 1, 3)
    assert pool(x).flatten().tolist() == [2.0, 3.0]
    assert pool(-x).flatten().tolist() == [-1.0, 0.0]  # zero padding, as in the reference code


@pytest.mark.parametrize(
    ("clip", "last"),
    [((16, 224, 224), None), ((15, 225, 223), (2, 8, 7)), ((16, 112, 112), (2, 4, 4))],
)
def test_endpoint_shapes(clip: tuple[int, int, int], last: tuple[int, int, int] | None) -> None:
    with torch.device("meta"):  # shapes only, no arithmetic
        model = I3D(3).eval()
        out = model.endpoints(torch.empty(1, 3, *clip))
    shapes = {name: tuple(t.shape[1:]) for name, t in out.items()}
    if last is None:
        assert shapes == SHAPES_224
    else:
        assert shapes["Mixed_5c"] == (1024, *last)
        t, h, w = clip  # every end point is ⌈size / cumulative stride⌉
        for name, (_, t224, h224, w224) in SHAPES_224.items():
            st, sh, sw = 16 // t224, 224 // h224, 224 // w224
            assert shapes[name][1:] == (-(-t // st), -(-h // sh), -(-w // sw)), name


def test_forward_features_and_determinism() -> None:
    torch.manual_seed(0)
    model = I3D(3).eval()
    x = torch.rand(2, 3, 8, 64, 64) * 2 - 1
    with torch.no_grad():
        first, second = model(x), model(x)
        trunk = model.trunk(x)
        scores = model.class_scores(x)
    assert first.shape == (2, 1024) and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert trunk.shape == (2, 1024, 1, 2, 2)
    pooled = F.avg_pool3d(trunk, trunk.shape[2:]).flatten(1)  # piergiaj's AvgPool3d over the whole remainder
    torch.testing.assert_close(first, pooled)
    assert scores.shape == (2, 400)
    manual = first @ model.logits.conv3d.weight.flatten(1).T + model.logits.conv3d.bias
    torch.testing.assert_close(scores, manual)


def test_load_public_naming(rgb_file: Path) -> None:
    state = random_state(3)
    model = I3D(3)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    loaded = load_i3d(rgb_file, 3)
    assert not loaded.training and loaded.num_classes == 400
    assert torch.equal(loaded.Mixed_4b.b1b.conv3d.weight, state["Mixed_4b.b1b.conv3d.weight"])
    assert torch.equal(loaded.logits.conv3d.bias, state["logits.conv3d.bias"])


def test_load_other_class_count(tmp_path: Path) -> None:
    path = tmp_path / "flow_charades.pt"
    torch.save(random_state(2, num_classes=157), path)
    model = load_i3d(path, 2)
    assert model.num_classes == 157 and model.logits.conv3d.out_channels == 157


def test_load_errors(tmp_path: Path, rgb_file: Path) -> None:
    state = random_state(3)
    truncated = dict(state)
    del truncated["Mixed_4b.b1b.conv3d.weight"]
    torch.save(truncated, tmp_path / "truncated.pt")
    with pytest.raises(InputError) as info:
        load_i3d(tmp_path / "truncated.pt", 3)
    message = str(info.value)
    assert "\n" not in message and "1 missing key" in message and "'Mixed_4b.b1b.conv3d.weight'" in message
    assert "unexpected" not in message

    extra = {**state, "fc.weight": torch.zeros(3)}
    torch.save(extra, tmp_path / "extra.pt")
    with pytest.raises(InputError, match=r"1 unexpected key\(s\), first 'fc\.weight'"):
        load_i3d(tmp_path / "extra.pt", 3)

    with pytest.raises(InputError, match=r"Conv3d_1a_7x7\.conv3d\.weight has shape \(64, 3, 7, 7, 7\)"):
        load_i3d(rgb_file, 2)  # an RGB file for a flow network

    with pytest.raises(InputError, match="not found"):
        load_i3d(tmp_path / "absent.pt", 3)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        load_i3d(tmp_path / "junk.pt", 3)
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(InputError, match="not a state dict"):
        load_i3d(tmp_path / "list.pt", 3)


def test_hassony2_round_trip(tmp_path: Path) -> None:
    state = random_state(2)
    renamed = {to_hassony2(key): value for key, value in state.items()}
    assert "mixed_4b.branch_1.1.conv3d.weight" in renamed and "conv3d_0c_1x1.conv3d.bias" in renamed
    assert "mixed_5c.branch_3.1.batch3d.running_var" in renamed
    assert is_hassony2(renamed) and not is_hassony2(state)
    back = convert_hassony2(renamed)
    assert list(back) == list(state)
    assert all(back[key] is state[key] for key in state)

    torch.save(renamed, tmp_path / "model_flow.pth")
    model = load_i3d(tmp_path / "model_flow.pth", 2)
    assert torch.equal(model.Mixed_5c.b3b.bn.running_var, state["Mixed_5c.b3b.bn.running_var"])
