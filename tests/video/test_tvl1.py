"""TV-L1 in torch against OpenCV itself: each image operation it calls on the same arrays, then the whole
flow on frames encoded and decoded here (a textured pan with a moving object, a translating pattern, a
static scene, a motion beyond 20 px), a batch against its pairs one at a time, and the median network
proven by the 0-1 principle.

On x86-64 with AVX2 and FMA (the code path pip's OpenCV wheels take there) every step and the whole flow
are equal to OpenCV bit for bit; elsewhere the tests hold the documented tolerances (mean end-point
error ≤ 0.05 px, 99th percentile ≤ 0.5 px).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ecm.video.cvops import (
    MEDIAN25,
    SORT5,
    _comparators,
    _fma,
    centred_gradient,
    median_blur,
    remap_cubic,
    resize_linear,
)
from ecm.video.flow import grey
from ecm.video.tvl1 import TVL1Params, pyramid_sizes, tvl1_torch

cv2 = pytest.importorskip("cv2")
av = pytest.importorskip("av")

HEIGHT, WIDTH = 128, 160  # pixels: not square, so that rows and columns cannot be confused
EXACT = "*AVX2" in cv2.getCPUFeaturesLine().split()  # OpenCV dispatches its AVX2 (and FMA) code here


def blobs(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Smooth random texture in [0, 1], ``(height, width)`` float32."""
    noise = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), sigma)
    return (noise - noise.min()) / (noise.max() - noise.min())


def scenes() -> dict[str, tuple[np.ndarray, np.ndarray, tuple[float, float] | None]]:
    """Greyscale frame pairs in [0, 255] float and the true motion (x, y) in pixels where it is one."""
    rng = np.random.default_rng(0)
    background = blobs(rng, HEIGHT + 40, WIDTH + 40, 2.0) * 200 + 20
    thing = blobs(rng, 40, 40, 1.5) * 255
    first, second = (
        background[10 : 10 + HEIGHT, 10 : 10 + WIDTH].copy(),
        background[12:, 13:][:HEIGHT, :WIDTH].copy(),
    )
    first[40:80, 50:90], second[45:85, 54:94] = thing, thing  # the pan moves (-3, -2), the object (4, 5)
    pattern = blobs(rng, HEIGHT + 20, WIDTH + 20, 1.5) * 255
    shift = np.float32([[1, 0, 2.5], [0, 1, -1.25]])
    moved = cv2.warpAffine(pattern, shift, (WIDTH + 20, HEIGHT + 20), flags=cv2.INTER_CUBIC)
    still = blobs(rng, HEIGHT, WIDTH, 2.0) * 255
    large = blobs(rng, HEIGHT + 80, WIDTH + 80, 14.0) * 235 + 10
    return {
        "pan and object": (first, second, None),
        "translation": (pattern[:HEIGHT, :WIDTH], moved[:HEIGHT, :WIDTH], (2.5, -1.25)),
        "static": (still, still, (0.0, 0.0)),
        "large motion": (large[30:, 30:][:HEIGHT, :WIDTH], large[8:, 6:][:HEIGHT, :WIDTH], (24.0, 22.0)),
    }


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[np.ndarray, np.ndarray, tuple | None]]:
    """Each scene's two frames through a video codec (MPEG-4 in MP4, PyAV) and back, as greyscale uint8."""
    path = tmp_path_factory.mktemp("tvl1") / "scenes.mp4"
    table = scenes()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"qscale": "2"}
        for first, second, _ in table.values():
            for image in (first, second):
                rgb = np.repeat(np.clip(np.rint(image), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        frames = [
            cv2.cvtColor(f.to_ndarray(format="rgb24"), cv2.COLOR_RGB2GRAY) for f in container.decode(video=0)
        ]
    assert len(frames) == 2 * len(table)
    decoded = {
        name: (frames[2 * i], frames[2 * i + 1], truth)
        for i, (name, (_, _, truth)) in enumerate(table.items())
    }
    still = decoded["static"][0]
    decoded["static"] = (still, still.copy(), (0.0, 0.0))  # one decoded frame twice: truly still
    return decoded


def opencv_flow(first: np.ndarray, second: np.ndarray, **params: object) -> np.ndarray:
    return cv2.optflow.DualTVL1OpticalFlow_create(**params).calc(first, second, None)


# ------------------------------------------------------------------------------------------- the steps


def test_the_pyramid_sizes_and_linear_resizes_are_opencvs() -> None:
    rng = np.random.default_rng(1)
    assert pyramid_sizes(224, 224, TVL1Params()) == [(224, 224), (179, 179), (143, 143), (114, 114), (91, 91)]
    assert pyramid_sizes(20, 200, TVL1Params()) == [(20, 200), (16, 160)]  # stops before a side < 16
    level = rng.integers(0, 256, (HEIGHT, WIDTH)).astype(np.float32)
    for size in pyramid_sizes(HEIGHT, WIDTH, TVL1Params())[1:]:  # down by fx = fy = 0.8, no blur
        expected = cv2.resize(level, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
        assert expected.shape == size
        ours = resize_linear(torch.from_numpy(level), size, (1.25, 1.25)).numpy()
        np.testing.assert_array_equal(ours, expected) if EXACT else np.testing.assert_allclose(
            ours, expected, atol=1e-3
        )
        level = expected
    for source, target in [((91, 114), (114, 143)), ((37, 50), (47, 62)), ((143, 179), (179, 224))]:
        flow = (rng.normal(size=source) * 3).astype(np.float32)  # the flow, up to the next level's size
        expected = cv2.resize(flow, target[::-1], interpolation=cv2.INTER_LINEAR)
        ours = resize_linear(torch.from_numpy(flow), target).numpy()
        np.testing.assert_array_equal(ours, expected) if EXACT else np.testing.assert_allclose(
            ours, expected, atol=1e-5
        )


def test_remap_is_opencvs_bicubic_with_zero_outside() -> None:
    rng = np.random.default_rng(2)
    images = (rng.random((2, HEIGHT, WIDTH)) * 255).astype(np.float32)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    flows = {
        "a few pixels": rng.normal(0, 3, (2, 2, HEIGHT, WIDTH)),
        "far outside": rng.uniform(-3 * WIDTH, 3 * WIDTH, (2, 2, HEIGHT, WIDTH)),
        "whole pixels": np.rint(rng.normal(0, 3, (2, 2, HEIGHT, WIDTH))),
    }
    for name, flow in flows.items():
        flow = flow.astype(np.float32)
        ours = remap_cubic(
            torch.from_numpy(images)[:, None], torch.from_numpy(flow[:, 0]), torch.from_numpy(flow[:, 1])
        )
        for i in range(2):
            expected = cv2.remap(images[i], cols + flow[i, 0], rows + flow[i, 1], cv2.INTER_CUBIC)
            got = ours[i, 0].numpy()
            assert np.array_equal(got, expected) if EXACT else np.abs(got - expected).max() < 1e-2, name


def test_median_and_gradients_and_grey_are_opencvs() -> None:
    rng = np.random.default_rng(3)
    for values in (rng.normal(size=(2, 2, 37, 50)), rng.integers(0, 3, (2, 2, 37, 50))):  # ties too
        images = torch.from_numpy(values.astype(np.float32))
        for size in (3, 5):
            expected = np.stack([[cv2.medianBlur(c.numpy(), size) for c in image] for image in images])
            np.testing.assert_array_equal(median_blur(images, size).numpy(), expected)
    image = torch.tensor([[0.0, 1.0, 4.0, 9.0], [2.0, 4.0, 8.0, 16.0], [5.0, 7.0, 11.0, 19.0]])
    dx, dy = centred_gradient(image)  # ½ (next − previous) inside, ½ (one-sided) on the borders
    assert dx.tolist() == [[0.5, 2.0, 4.0, 2.5], [1.0, 3.0, 6.0, 4.0], [1.0, 3.0, 6.0, 4.0]]
    assert dy.tolist() == [[1.0, 1.5, 2.0, 3.5], [2.5, 3.0, 3.5, 5.0], [1.5, 1.5, 1.5, 1.5]]
    rgb = rng.integers(0, 256, (4, 33, 17, 3), dtype=np.uint8)
    expected = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in rgb])
    np.testing.assert_array_equal(grey(torch.from_numpy(rgb)).numpy(), expected)


def test_the_fused_multiply_add_rounds_once() -> None:
    """a·b = 2⁻²⁴ (1 − 2⁻⁴⁶), c = 1 + 2⁻²³: the exact sum lies just below the float32 midpoint 1 + 3·2⁻²⁴,
    so it rounds down to c; rounded first to float64 it lands on the midpoint and would round (to even) up."""
    a = torch.tensor([2**-12 * (1 + 2**-23), -(2**-12) * (1 + 2**-23)], dtype=torch.float32)
    b = torch.tensor([2**-12 * (1 - 2**-23)] * 2, dtype=torch.float32)
    c = torch.tensor([1 + 2**-23, -(1 + 2**-23)], dtype=torch.float32)
    assert _fma(a, b, c).tolist() == [1 + 2**-23, -(1 + 2**-23)]
    assert (a.double() * b.double() + c.double()).float().tolist() == [1 + 2**-22, -(1 + 2**-22)]
    rng = np.random.default_rng(4)
    x, y, z = (torch.from_numpy(rng.normal(size=1000).astype(np.float32)) for _ in range(3))
    assert torch.equal(_fma(x, y, z), (x.double() * y.double() + z.double()).float())  # no midpoints here


def test_the_median_network_is_proven_by_the_0_1_principle() -> None:
    """A comparator network selects the median of every input iff it does so of every 0-1 input; after the
    column sort, the 0-1 windows are the 6⁵ choices of how many ones each sorted column ends with."""
    windows = np.array(list(itertools.product(range(6), repeat=5)))  # (7776, 5): ones per column
    wires = [
        (r >= 5 - windows[:, c]).astype(np.uint8) for r in range(5) for c in range(5)
    ]  # rank r, column c
    for a, op, b in _comparators(MEDIAN25):
        low = np.minimum(wires[a], wires[b])
        if op in "=>":
            wires[b] = np.maximum(wires[a], wires[b])
        if op in "=<":
            wires[a] = low
    assert np.array_equal(wires[12], (windows.sum(axis=1) >= 13).astype(np.uint8))
    assert len(_comparators(MEDIAN25)) == 70 and len(SORT5) == 9
    for bits in itertools.product((0, 1), repeat=5):  # the column sort sorts
        run = list(bits)
        for a, b in SORT5:
            run[a], run[b] = min(run[a], run[b]), max(run[a], run[b])
        assert run == sorted(bits)


# ------------------------------------------------------------------------------------------- the flow


def test_the_flow_equals_opencvs_on_encoded_frames(pairs: dict) -> None:
    for name, (first, second, truth) in pairs.items():
        expected = opencv_flow(first, second)
        ours = tvl1_torch(first, second)
        assert ours.shape == (1, HEIGHT, WIDTH, 2) and ours.dtype == torch.float32
        error = np.linalg.norm(ours[0].numpy() - expected, axis=-1)
        assert error.mean() <= 0.05 and np.percentile(error, 99) <= 0.5, name
        if EXACT:
            assert np.array_equal(ours[0].numpy(), expected), name
        if truth is not None:  # TV-L1 finds the motion (OpenCV's flow too: they are the same)
            median = np.median(expected.reshape(-1, 2), axis=0)
            assert np.allclose(median, truth, atol=1.0), (name, median)
    assert np.abs(opencv_flow(*pairs["large motion"][:2])).max() > 20  # beyond the ±20 px of the features


def test_a_batch_gives_each_pair_the_flow_it_gets_alone(pairs: dict) -> None:
    """Pairs converge after different numbers of iterations (the static one at once): in a batch each
    stops on its own, so the batch equals the pairs one at a time, and so does a batch split by memory."""
    firsts = np.stack([p[0] for p in pairs.values()])
    seconds = np.stack([p[1] for p in pairs.values()])
    together = tvl1_torch(firsts, seconds, batch=len(firsts))
    # A memory bound of 1 MiB leaves room for one pair at a time (tensors in, too).
    alone = tvl1_torch(torch.from_numpy(firsts), torch.from_numpy(seconds), memory_mib=1)
    assert torch.equal(together, alone)
    assert not together[2].any()  # the static scene: it stops after its first iteration


def test_parameters_are_opencvs_and_checked(pairs: dict) -> None:
    first, second, _ = pairs["translation"]
    params = {"tau": 0.2, "lambda_": 0.1, "nscales": 3, "warps": 2, "epsilon": 0.05}
    ours = tvl1_torch(first, second, **params)[0].numpy()
    expected = opencv_flow(first, second, **params)
    assert np.abs(ours - expected).max() <= (0.0 if EXACT else 0.05)
    empty = np.zeros((0, HEIGHT, WIDTH), np.uint8)
    assert tvl1_torch(empty, empty).shape == (0, HEIGHT, WIDTH, 2)
    with pytest.raises(TypeError, match="unknown TV-L1 parameter"):
        tvl1_torch(first, second, gamma=0.1)
    with pytest.raises(ValueError, match="uint8"):
        tvl1_torch(first.astype(np.float32), second)
    with pytest.raises(ValueError, match="differ in shape"):
        tvl1_torch(first, second[:-1])
    with pytest.raises(ValueError, match="median_filtering"):
        TVL1Params(median_filtering=7)
