"""Rotated videos decode as players show them: the display matrix turns every frame before the resize and
the centre crop, and `probe` reports the displayed size. `data/rotated90.mp4` is a portrait phone video in
miniature (see `data/README.md`); the other angles are encoded here, with PyAV, when it can write a
display matrix. ffmpeg's own filters are the trusted implementation the decoder is compared with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecm.video.decode import centre_crop, probe, read_frames, resized_size

av = pytest.importorskip("av")

DATA = Path(__file__).parent / "data"
WIDTH, HEIGHT = 64, 48  # pixels: every test video is stored landscape

# Where the white block (stored top-left) and the red block (stored top-right) are shown, per display-matrix
# angle in degrees counter-clockwise as PyAV writes and reads it. ffmpeg and ffplay turn the frame by
# -angle clockwise (fftools' autorotate): transpose=clock for -90 (and 270), transpose=cclock for 90,
# hflip + vflip for 180.
SHOWN = {
    0: ("top-left", "top-right"),
    -90: ("top-right", "bottom-right"),  # a quarter turn clockwise: the portrait phone video
    270: ("top-right", "bottom-right"),
    90: ("bottom-left", "top-left"),  # a quarter turn counter-clockwise
    180: ("bottom-right", "bottom-left"),
}
FFMPEG_FILTERS: dict[int, list[tuple[str, str | None]]] = {
    0: [],
    -90: [("transpose", "clock")],
    270: [("transpose", "clock")],
    90: [("transpose", "cclock")],
    180: [("hflip", None), ("vflip", None)],
}
ROTATION = {0: 0, -90: 270, 270: 270, 90: 90, 180: 180}  # VideoInfo.rotation: 0–360, counter-clockwise

writes_display_matrix = pytest.mark.skipif(
    not hasattr(av.video.stream.VideoStream, "set_display_rotation"),
    reason="writing a display matrix needs PyAV ≥ 17.1",
)


def markers() -> np.ndarray:
    """A ``(HEIGHT, WIDTH, 3)`` uint8 frame: dark grey, a white block top-left and a red one top-right."""
    image = np.full((HEIGHT, WIDTH, 3), 40, dtype=np.uint8)
    image[:16, :16] = 255
    image[:16, -16:] = (255, 0, 0)
    return image


def texture() -> np.ndarray:
    """A ``(HEIGHT, WIDTH, 3)`` uint8 frame of smooth colour waves, with the two marker blocks."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    waves = [128 + 100 * np.sin(cols / 5), 128 + 100 * np.cos(rows / 4), 128 + 60 * np.sin((rows + cols) / 7)]
    image = np.stack(waves, axis=-1).astype(np.uint8)
    image[:16, :16] = 255
    image[:16, -16:] = (255, 0, 0)
    return image


def encode(path: Path, image: np.ndarray, angle: int, frames: int = 4) -> Path:
    """``frames`` copies of ``image`` at 10 fps, with a display matrix turning them by ``angle`` (none for 0)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if angle:
            stream.set_display_rotation(angle)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corners(image: np.ndarray) -> tuple[str, str]:
    """The corners of an ``(H, W, 3)`` frame that hold the white block and the red block."""
    side = min(image.shape[:2]) // 8
    patches = {
        "top-left": image[:side, :side],
        "top-right": image[:side, -side:],
        "bottom-left": image[-side:, :side],
        "bottom-right": image[-side:, -side:],
    }
    means = {name: patch.reshape(-1, 3).mean(axis=0) for name, patch in patches.items()}
    white = [name for name, mean in means.items() if mean.min() > 200]
    red = [name for name, mean in means.items() if mean[0] > 200 and mean[1:].max() < 60]
    assert len(white) == 1 and len(red) == 1, means
    return white[0], red[0]


def ffmpeg_shown(path: Path, angle: int) -> np.ndarray:
    """``(T, H, W, 3)``: the stored frames through the filters ffmpeg's autorotate inserts for ``angle``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        graph = av.filter.Graph()
        last = graph.add_buffer(template=stream)
        for name, argument in FFMPEG_FILTERS[angle]:
            step = graph.add(name, argument) if argument else graph.add(name)
            last.link_to(step)
            last = step
        last.link_to(graph.add("buffersink"))
        graph.configure()
        shown = []
        for frame in container.decode(stream):
            graph.push(frame)
            shown.append(graph.pull().to_ndarray(format="rgb24"))
    return np.stack(shown)


def frames_of(path: Path, **kwargs: int) -> np.ndarray:
    return np.concatenate(list(read_frames(path, fps=10, **kwargs)))


def test_the_committed_portrait_video_decodes_as_displayed() -> None:
    path = DATA / "rotated90.mp4"
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (HEIGHT, WIDTH, 270)  # portrait, turned clockwise
    assert info.fps == 10 and info.duration == pytest.approx(1.0)
    whole = frames_of(path, short_side=HEIGHT, crop=1000)  # no resize, no crop: the displayed frames
    assert whole.shape == (10, WIDTH, HEIGHT, 3)
    assert {corners(frame) for frame in whole} == {SHOWN[-90]}
    # The crop cuts the displayed long side, the vertical one: the same frames, 8 rows less top and bottom.
    cropped = frames_of(path, short_side=HEIGHT, crop=HEIGHT)
    assert cropped.shape == (10, HEIGHT, HEIGHT, 3)
    np.testing.assert_array_equal(cropped, whole[:, 8:56])
    # Resized by the displayed shorter side (the width): 96 × 128, centre 96 × 96.
    larger = frames_of(path, short_side=96, crop=96)
    assert larger.shape == (10, 96, 96, 3) and corners(larger[0]) == SHOWN[-90]
    # Timing is unchanged by the turn: 1 s at 25 fps is 25 frames.
    assert sum(len(chunk) for chunk in read_frames(path, fps=25, short_side=48, crop=48)) == 25


@pytest.mark.parametrize(
    "angle", [0, *(pytest.param(angle, marks=writes_display_matrix) for angle in (90, 180, 270, -90))]
)
def test_each_angle_decodes_as_ffmpeg_shows_it(tmp_path: Path, angle: int) -> None:
    path = encode(tmp_path / f"angle{angle}.mp4", markers(), angle)
    portrait = angle % 180 != 0
    displayed = (HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT)  # (width, height)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (*displayed, ROTATION[angle])
    whole = frames_of(path, short_side=HEIGHT, crop=1000)
    assert whole.shape == (4, displayed[1], displayed[0], 3)
    assert corners(whole[0]) == SHOWN[angle]
    np.testing.assert_array_equal(whole, ffmpeg_shown(path, angle))  # at the stored scale: exactly ffmpeg's


@writes_display_matrix
@pytest.mark.parametrize("angle", [90, -90])
@pytest.mark.parametrize("short_side", [32, 80])
def test_turning_after_the_resize_is_turning_before_it(tmp_path: Path, angle: int, short_side: int) -> None:
    """Against turning the full RGB frame and then resizing it, turned frames differ no more than unturned
    ones do from resizing the full RGB frame: swscale's chroma rounding, not the turn."""
    turned = encode(tmp_path / "turned.mp4", texture(), angle, frames=2)
    plain = encode(tmp_path / "plain.mp4", texture(), 0, frames=2)

    def error(path: Path, turn: int) -> float:
        frames = frames_of(path, short_side=short_side, crop=1000)  # (T, H, W, 3), turned by read_frames
        with av.open(str(path)) as container:
            full = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        expected = []
        for image in full:  # turn at the stored size, then resize the RGB frame
            shown = np.ascontiguousarray(np.rot90(image, k=turn))
            width, height = resized_size(shown.shape[1], shown.shape[0], short_side)
            rgb = av.VideoFrame.from_ndarray(shown, format="rgb24")
            expected.append(rgb.to_ndarray(width=width, height=height, format="rgb24"))
        assert frames.shape == np.stack(expected).shape
        return float(np.abs(frames.astype(np.int16) - np.stack(expected)).mean())

    turned_error, plain_error = error(turned, turn=1 if angle == 90 else 3), error(plain, turn=0)
    assert turned_error < plain_error + 0.1 and turned_error < 5.0, (turned_error, plain_error)


def test_an_unrotated_video_is_unchanged(tmp_path: Path) -> None:
    path = encode(tmp_path / "plain.mp4", texture(), 0)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (WIDTH, HEIGHT, 0)
    frames = frames_of(path, short_side=32, crop=32)
    width, height = resized_size(WIDTH, HEIGHT, 32)
    with av.open(str(path)) as container:  # the decoder before display matrices: resize, crop, nothing else
        direct = [
            centre_crop(frame.to_ndarray(width=width, height=height, format="rgb24"), 32)
            for frame in container.decode(video=0)
        ]
    np.testing.assert_array_equal(frames, np.stack(direct))
