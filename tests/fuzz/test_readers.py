"""Property-based fuzzing of every reader of user input (issue 12): JSON, YAML, text, ``.npy`` and ``.npz``.

The contract of a reader: for any bytes it either returns a valid result or raises
:class:`ecm.errors.InputError` whose message is one line naming the file — never another exception type,
never a hang, and never an unpickling (``np.load`` must not run a pickle).

Inputs come from three kinds of strategies:

* arbitrary bytes (and a fixed list of nasty files: empty, BOMs, UTF-16, invalid UTF-8, 100 000 nested
  lists, a 5 000-digit integer, ``NaN``/``Infinity``);
* documents with the right top-level keys but values of any type (huge integers, NaN, Infinity, numeric
  strings, booleans, video ids holding newlines or slashes), serialised and then possibly mutated (BOM,
  UTF-16, truncation, an invalid byte, trailing garbage); sentinels let a 5 000-digit integer or 100 000
  nested lists appear at any position of a document;
* ``.npy`` files with valid headers but wrong dtype/shape/ndim/order, truncated or extended data,
  corrupted headers, unsupported format versions, object arrays holding a pickle that would create a
  marker file if it were ever unpickled; ``.npz`` archives of such members, with corrupted bytes.

Each test also carries a few ``@example`` inputs: minimal reproducers of failures the fuzzer found, so
they are checked on every run whatever the search draws (Hypothesis tries them first and, while one of
them fails, reports them without generating more). Examples are otherwise derandomized and no example
database is kept; the example counts keep the module near 20-30 s on two slow cores when it passes.
``ECM_FUZZ_SCALE=20`` multiplies the counts and randomizes the search, for a deeper run by hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import struct
import tempfile
import typing
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ecm.errors import InputError

# --------------------------------------------------------------------------------------------------------
# Settings and the contract check


# ECM_FUZZ_SCALE=20 runs 20 times as many examples, from a random seed, for a deeper (slower) search.
SCALE = float(os.environ.get("ECM_FUZZ_SCALE", "1"))


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings for one reader: no deadline (file I/O), reproducible, no database on disk."""
    return settings(
        max_examples=max(1, round(max_examples * SCALE)),
        deadline=None,
        derandomize=SCALE == 1,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


MAX_MESSAGE = 100_000  # a "one line" message of megabytes is a bug too (e.g. an alias-expanded repr)
VID = "video_test_0000001"


def check_message(exc: InputError, where: str | os.PathLike[str] | None) -> None:
    """An InputError's message is one (reasonably short) line and, when ``where`` is given, names it."""
    message = str(exc)
    assert "\n" not in message and "\r" not in message, f"multi-line message: {message!r}"
    assert len(message) <= MAX_MESSAGE, f"message of {len(message)} characters: {message[:200]!r}…"
    if where is not None:
        assert os.fspath(where) in message, f"message does not name {os.fspath(where)!r}: {message!r}"


def result_or_input_error(call: Callable[[], Any], where: str | os.PathLike[str] | None) -> Any:
    """``call()``'s result, or ``None`` when it raised a well-formed InputError; anything else propagates."""
    try:
        return call()
    except InputError as exc:
        check_message(exc, where)
        return None


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh temporary folder per example (pytest's tmp_path is shared by all examples of a test)."""
    with tempfile.TemporaryDirectory(prefix="ecm-fuzz-") as name:
        yield Path(name)


# A pickle that creates this file when unpickled: no reader may ever create it.
PICKLE_MARKER = Path(tempfile.gettempdir()) / f"ecm-fuzz-unpickled-{os.getpid()}"


class _Trap:
    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(PICKLE_MARKER), "w"))


def trap_array(shape: tuple[int, ...] = (2, 2)) -> np.ndarray:
    array = np.empty(shape, dtype=object)
    array.fill(_Trap())
    return array


def assert_not_unpickled() -> None:
    if PICKLE_MARKER.exists():
        PICKLE_MARKER.unlink()
        pytest.fail("a reader unpickled a file (the trap pickle ran)")


# --------------------------------------------------------------------------------------------------------
# Values of any type, numbers of every kind, keys that are not plain names

DEEP = 100_000  # nesting depth of the "deep" documents (far beyond the recursion limit)
BIGINT_TOKEN = "\x00BIGINT"  # replaced by a 5 000-digit integer after serialisation
DEEP_TOKEN = "\x00DEEP"  # replaced by 100 000 nested lists after serialisation
BIGINT_TEXT = "1" * 5000  # more digits than int() accepts (sys.get_int_max_str_digits() = 4300)
DEEP_TEXT = "[" * DEEP + "]" * DEEP

HUGE_INTS = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**20, 10**308, 10**309, -(10**400), 10**400])
NUMERIC_STRINGS = st.sampled_from(["1", "2.5", "-0", "nan", "inf", "-inf", "1e999", "", " 3 ", "0x10", "1_0"])
SPECIAL_NUMBERS = st.sampled_from(
    [
        0,
        1,
        -1,
        0.5,
        float("nan"),
        float("inf"),
        float("-inf"),
        1e308,
        2**63,
        10**400,
        -(10**400),
        True,
        None,
        "nan",
        "1e999",
        "3",
    ]
)
NUMBERISH = st.one_of(
    SPECIAL_NUMBERS,
    st.integers(-5, 100),
    st.floats(allow_nan=True, allow_infinity=True),
    HUGE_INTS,
    NUMERIC_STRINGS,
)
ODD_NAMES = st.sampled_from(
    [
        "a\nb",
        "a\rb",
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "a\\b",
        "\x00",
        "é",
        "\u2028",
        " ",
        "vid",
        VID,
        BIGINT_TOKEN,
        DEEP_TOKEN,
    ]
)
KEYS = st.one_of(st.text(max_size=6), ODD_NAMES)
SCALARS = st.one_of(NUMBERISH, st.text(max_size=8), ODD_NAMES)
ANY_JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=8,
)


def _same(value: Any) -> Any:
    return value


def weighted(strategy: st.SearchStrategy[Any], weight: int) -> list[st.SearchStrategy[Any]]:
    """``weight`` distinct copies of ``strategy`` for ``st.one_of`` (which merges repeats of one object)."""
    return [strategy, *(strategy.map(_same) for _ in range(weight - 1))]


def either(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right kind of value (4 in 5), sometimes anything: deep checks are reached, and every one fails."""
    return st.one_of(*weighted(right, 4), ANY_JSON)


def obj(
    required: dict[str, st.SearchStrategy[Any]] | None = None, /, **optional: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """An object with the ``required`` keys, any subset of the ``optional`` ones, perhaps a stray key."""
    return st.fixed_dictionaries(required or {}, optional=optional).flatmap(
        lambda d: st.dictionaries(KEYS, ANY_JSON, max_size=1).map(lambda extra: {**extra, **d})
    )


# Video ids: plain names, and every kind of name that must not end up in a path or break a message line.
VIDEO_IDS = st.one_of(st.just(VID), *weighted(ODD_NAMES, 2), st.text(max_size=6))


# --------------------------------------------------------------------------------------------------------
# JSON files: arbitrary bytes, nasty fixed files, and plausible documents serialised then mutated

NASTY_JSON: list[bytes] = [
    b"",
    b" \n",
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b"\x80\x81\xfe",
    b"[" * DEEP,
    DEEP_TEXT.encode(),
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    BIGINT_TEXT.encode(),
    b"-" + BIGINT_TEXT.encode(),
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"null",
    b"[]",
    b"{}",
    b'"\xc3\x28"',
    b'{"a": 1}\x00',
]

MUTATIONS = ("none",) * 12 + ("bom", "utf16", "truncate", "badbyte", "trailing", "nul")


def serialise(document: Any, *, ensure_ascii: bool = True) -> str:
    text = json.dumps(document, allow_nan=True, ensure_ascii=ensure_ascii)
    return text.replace('"\\u0000BIGINT"', BIGINT_TEXT).replace('"\\u0000DEEP"', DEEP_TEXT)


def mutate(data: bytes, how: str, at: int) -> bytes:
    at = at % (len(data) + 1)
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "utf16":
        return data.decode("utf-8").encode("utf-16")
    if how == "truncate":
        return data[:at]
    if how == "badbyte":
        return data[:at] + b"\xff" + data[at:]
    if how == "trailing":
        return data + b" }garbage"
    if how == "nul":
        return data[:at] + b"\x00" + data[at:]
    return data


@st.composite
def json_files(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> bytes:
    """The bytes of a JSON file: arbitrary, nasty, or ``documents`` serialised and perhaps mutated."""
    kind = draw(st.sampled_from(["document"] * 6 + ["nasty", "bytes", "any"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "nasty":
        return draw(st.sampled_from(NASTY_JSON))
    document = draw(ANY_JSON if kind == "any" else documents)
    data = serialise(document, ensure_ascii=draw(st.booleans())).encode("utf-8")
    return mutate(data, draw(st.sampled_from(MUTATIONS)), draw(st.integers(0, 2**16)))


def segments() -> st.SearchStrategy[Any]:
    return either(st.one_of(st.tuples(NUMBERISH, NUMBERISH).map(list), st.lists(NUMBERISH, max_size=3)))


ANNOTATIONS = obj({"segment": segments(), "label": either(st.text(max_size=6))})
ACTIVITYNET_ENTRIES = obj(
    {
        "subset": either(st.sampled_from(["train", "test", "validation"])),
        "annotations": either(st.lists(either(ANNOTATIONS), max_size=3)),
    },
    duration=NUMBERISH,
    fps=NUMBERISH,
)
ACTIVITYNET_DOCS = obj(
    {"database": either(st.dictionaries(VIDEO_IDS, either(ACTIVITYNET_ENTRIES), max_size=3))},
    version=ANY_JSON,
)

PREDICTIONS = obj({"label": either(st.text(max_size=6)), "score": NUMBERISH, "segment": segments()})
PREDICTION_DOCS = obj(
    {
        "results": either(
            st.dictionaries(VIDEO_IDS, either(st.lists(either(PREDICTIONS), max_size=4)), max_size=3)
        )
    },
    version=ANY_JSON,
    external_data=ANY_JSON,
)

MAP_SUMMARIES = either(
    obj(
        {"mAP": either(st.dictionaries(KEYS, NUMBERISH, max_size=3)), "average": NUMBERISH},
        averages=either(st.dictionaries(KEYS, NUMBERISH, max_size=2)),
    )
)

SPREADS = either(
    obj({"values": either(st.lists(NUMBERISH, max_size=3))}, mean=NUMBERISH, std=NUMBERISH, n=NUMBERISH)
)
METRIC_NAMES = st.one_of(st.just("mAP@0.5"), KEYS)
STUDY_ROWS = either(
    obj(
        {
            "key": either(st.text(max_size=6)),
            "seeds": either(st.lists(NUMBERISH, max_size=3)),
            "metrics": either(
                st.dictionaries(
                    st.one_of(st.sampled_from(["last", "best", "val"]), KEYS),
                    either(st.dictionaries(METRIC_NAMES, SPREADS, max_size=2)),
                    max_size=2,
                )
            ),
        },
        title=ANY_JSON,
        kind=either(st.sampled_from(["variant", "fusion"])),
        paper=either(obj(**{"mAP@0.5": NUMBERISH, "frame_accuracy": NUMBERISH})),
        runs=either(st.lists(st.text(max_size=4), max_size=2)),
        epochs=either(st.dictionaries(KEYS, either(st.lists(NUMBERISH, max_size=2)), max_size=2)),
        curve=either(
            obj(
                epochs=either(st.lists(NUMBERISH, max_size=3)),
                values=either(st.lists(either(st.lists(NUMBERISH, max_size=3)), max_size=2)),
            )
        ),
        dynamics=either(obj(onset=either(st.lists(NUMBERISH, max_size=2)), late_gain=SPREADS)),
        streams=either(st.lists(st.text(max_size=4), max_size=2)),
    )
)
STUDY_DOCS = obj(
    {
        "format": either(st.just("ecm-ablation-1")),
        "rows": either(st.lists(STUDY_ROWS, max_size=2)),
    },
    config=ANY_JSON,
    overrides=either(st.lists(st.text(max_size=4), max_size=2)),
    resolved_config=either(st.dictionaries(KEYS, ANY_JSON, max_size=2)),
    variants=either(st.lists(st.text(max_size=4), max_size=2)),
    seeds=either(st.lists(NUMBERISH, max_size=3)),
    epochs=NUMBERISH,
    selection=either(st.text(max_size=6)),
    tious=either(st.lists(NUMBERISH, max_size=3)),
)

EPOCH_RECORDS = either(
    obj(
        {"epoch": NUMBERISH, "lr": NUMBERISH, "loss": either(st.dictionaries(KEYS, NUMBERISH, max_size=3))},
        seconds=NUMBERISH,
        test=MAP_SUMMARIES,
        val=MAP_SUMMARIES,
        selection=either(NUMBERISH),
    )
)


def _summary(metric: Any) -> st.SearchStrategy[Any]:
    entry = either(
        obj(
            {
                "epoch": NUMBERISH,
                "test": MAP_SUMMARIES,
                **({metric: NUMBERISH} if isinstance(metric, str) else {}),
            }
        )
    )
    return obj({"metric": st.just(metric)}, best_on_test=entry, last=entry, val_selected=entry)


SUMMARY_DOCS = either(either(st.sampled_from(["mAP@0.5", "average"])).flatmap(_summary))


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    """``metrics.jsonl``: lines of (mostly) epoch records, perhaps blank lines, perhaps mutated."""
    if draw(st.integers(0, 5)) == 0:
        return draw(json_files(EPOCH_RECORDS))
    lines = [serialise(d) for d in draw(st.lists(EPOCH_RECORDS, min_size=1, max_size=3))]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "  ", "{", "[1]", "\x0b"])))
    data = "\n".join(lines).encode("utf-8")
    return mutate(data, draw(st.sampled_from(MUTATIONS)), draw(st.integers(0, 2**16)))


# --------------------------------------------------------------------------------------------------------
# JSON readers


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@fuzz(150)
@given(json_files(ANY_JSON))
def test_read_json(data: bytes) -> None:
    from ecm.files import read_json

    with scratch() as tmp:
        path = _write(tmp, "any.json", data)
        result_or_input_error(lambda: read_json(path), path)


@fuzz(500)
@example(b'{"database": {"a\\nb": {}}}')
@given(json_files(ACTIVITYNET_DOCS))
def test_load_activitynet_json(data: bytes) -> None:
    from ecm.data.annotations import load_activitynet_json

    with scratch() as tmp:
        path = _write(tmp, "gt.json", data)
        videos = result_or_input_error(lambda: load_activitynet_json(path), path)
        for vid, video in (videos or {}).items():
            assert vid == video.video_id and "/" not in vid and vid not in (".", "..")
            for seg in video.segments:
                assert np.isfinite([seg.start, seg.end]).all() and seg.start <= seg.end


@fuzz(500)
@example(b'{"results": {"a\\nb": 0}}')
@given(json_files(PREDICTION_DOCS))
def test_read_predictions(data: bytes) -> None:
    from ecm.evaluation.io import read_predictions

    with scratch() as tmp:
        path = _write(tmp, "predictions.json", data)
        table = result_or_input_error(lambda: read_predictions(path), path)
        if table is not None:
            assert np.isfinite(table.segments).all() and np.isfinite(table.scores).all()


@fuzz(800)
@example(b'{"format": "ecm-ablation-1", "rows": [], "epochs": 1e999}')
@given(json_files(STUDY_DOCS))
def test_load_study(data: bytes) -> None:
    from ecm.studies.results import load_study

    with scratch() as tmp:
        _write(tmp, "ablation.json", data)
        result_or_input_error(lambda: load_study(tmp), tmp / "ablation.json")


@fuzz(500)
@example(b'{"epoch": 1, "lr": 1' + b"0" * 400 + b', "loss": {}}')
@given(jsonl_files())
def test_run_dir_read_history(data: bytes) -> None:
    from ecm.training.run_dir import RunDir

    with scratch() as tmp:
        path = _write(tmp, "metrics.jsonl", data)
        result_or_input_error(lambda: RunDir(tmp).read_history(), path)


@fuzz(500)
@example(b'{"metric": "m", "last": {"epoch": 1, "m": 1, "test": {}}}')
@given(json_files(SUMMARY_DOCS))
def test_run_dir_read_summary(data: bytes) -> None:
    from ecm.training.run_dir import RunDir

    with scratch() as tmp:
        path = _write(tmp, "summary.json", data)
        result_or_input_error(lambda: RunDir(tmp).read_summary(), path)


# --------------------------------------------------------------------------------------------------------
# YAML: experiment configs and synthetic-preset knobs


def _config_fields() -> dict[str, list[str]]:
    from ecm.config.experiment import ExperimentConfig

    hints = typing.get_type_hints(ExperimentConfig)
    return {
        section.name: [f.name for f in dataclasses.fields(hints[section.name])]
        for section in dataclasses.fields(ExperimentConfig)
    }


YAML_SCALARS = st.one_of(
    st.integers(-5, 100),
    st.floats(allow_nan=True, allow_infinity=True),
    HUGE_INTS,
    st.text(max_size=8),
    ODD_NAMES,
    st.booleans(),
    st.none(),
)
YAML_KEYS = st.one_of(KEYS, st.integers(-2, 2), st.none(), st.booleans())
ANY_YAML = st.recursive(
    YAML_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(YAML_KEYS, children, max_size=3),
    max_leaves=8,
)


@st.composite
def config_documents(draw: st.DrawFn) -> Any:
    """A config mapping: known sections and fields with values of any type, and perhaps odd keys."""
    fields = _config_fields()
    document: dict[Any, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        names = draw(st.lists(st.sampled_from(fields[section]), max_size=3, unique=True))
        body: dict[Any, Any] = {name: draw(ANY_YAML) for name in names}
        if section == "postprocess" and draw(st.booleans()):
            body["preset"] = draw(st.one_of(st.sampled_from(["thumos14", "activitynet13"]), ANY_YAML))
        if draw(st.integers(0, 4)) == 0:
            body[draw(YAML_KEYS)] = draw(ANY_YAML)
        document[section] = draw(st.one_of(st.just(body), st.just(body), ANY_YAML))
    if draw(st.integers(0, 4)) == 0:
        document[draw(YAML_KEYS)] = draw(ANY_YAML)
    return document


NASTY_YAML: list[str] = [
    "",
    "\ufeff",
    "~",
    "- 1",
    "just text",
    "[" * 5000,  # PyYAML is pure Python here: 5 000 levels already exceed the recursion limit
    "[" * 3000 + "]" * 3000,
    "a:\n" + "".join("  " * i + "- \n" for i in range(1, 2000)),
    "{1: a, b: c}",
    "data: {1: a, root: c}",
    '"a\\nb": 1',
    'data: {"a\\nb": 1}',
    "optim: {lr: 1" + "0" * 400 + "}",
    "optim: {lr: " + BIGINT_TEXT + "}",
    "train: {epochs: 1e400}",
    "eval: {tious: [1" + "0" * 400 + "]}",
    "data: {root: 2020-13-45}",
    "data: {root: 2020-02-30}",
    "data: {root: 2020-01-01 25:00:00}",
    "data: {root: !!float abc}",
    "data: {root: !!int abc}",
    "data: {root: !!binary '@@'}",
    "!!python/object/apply:os.system [echo]",
    "data: !!set {a, b}",
    "<<: [1]",
    "&a [*a]",
    "data: &a {root: *a}",
    "? [a]\n: b",
    "data: {root: *missing}",
    "\x00",
    "a: b\n\tc: d",
    "%YAML 9.9\n---\na: 1",
]


@st.composite
def yaml_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["document"] * 5 + ["nasty", "nasty", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "text":
        return draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
    if kind == "nasty":
        text = draw(st.sampled_from(NASTY_YAML))
    else:
        text = yaml.safe_dump(draw(config_documents()), sort_keys=False, allow_unicode=draw(st.booleans()))
    return mutate(text.encode("utf-8"), draw(st.sampled_from(MUTATIONS)), draw(st.integers(0, 2**16)))


@fuzz(300)
@example(b"{1: a, b: c}")
@example(b'"a\\nb": 1')
@example(b"optim: {lr: 1" + b"0" * 400 + b"}")
@example(b"data: {root: 2020-13-45}")
@given(yaml_files())
def test_load_config_yaml(data: bytes) -> None:
    from ecm.config import load_config

    with scratch() as tmp:
        path = _write(tmp, "config.yaml", data)
        result_or_input_error(lambda: load_config(str(path)), path)


def test_load_config_alias_bomb_message_stays_small() -> None:
    """Aliases expand in a repr: 10^7 leaves from a 200-byte file must not become a 50 MB message."""
    from ecm.config import load_config

    levels = ['&l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 7)]
    text = "data:\n  root: [" + ", ".join(levels) + "]\n"
    with scratch() as tmp:
        path = _write(tmp, "bomb.yaml", text.encode())
        with pytest.raises(InputError) as info:
            load_config(str(path))
        check_message(info.value, path)


KNOB_NAMES = st.sampled_from(
    ["stream_dim", "noise_std", "context_strength", "frames_per_snippet", "nope", ""]
)


@fuzz(100)
@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda name, sep, value: f"{name}{sep}{value}",
                st.one_of(KNOB_NAMES, st.text(max_size=4)),
                st.sampled_from(["=", " = ", "", "=="]),
                st.one_of(
                    NUMERIC_STRINGS,
                    st.integers().map(str),
                    st.floats().map(repr),
                    st.text(max_size=6),
                    st.just(BIGINT_TEXT),
                    HUGE_INTS.map(str),
                ),
            ),
            st.text(max_size=10),
        ),
        max_size=3,
    )
)
def test_preset_config_knobs(knobs: list[str]) -> None:
    from ecm.data.synth_presets import preset_config

    result_or_input_error(lambda: preset_config("tiny", knobs=knobs), None)


# --------------------------------------------------------------------------------------------------------
# Text readers: split files, class lists, THUMOS14 span files

TOKENS = st.one_of(
    st.just(VID),
    ODD_NAMES,
    NUMERIC_STRINGS,
    st.floats().map(repr),
    st.just(BIGINT_TEXT),
    st.text(max_size=6),
)


@st.composite
def text_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["lines"] * 4 + ["bytes", "nasty"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "nasty":
        return draw(st.sampled_from([*NASTY_JSON[:5], b"\x00\n", b"a\x85b\n", b"a\xe2\x80\xa8b"]))
    lines = draw(st.lists(st.lists(TOKENS, max_size=4).map(" ".join), max_size=4))
    separator = draw(st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\u2028"]))
    data = separator.join(lines).encode("utf-8")
    return mutate(data, draw(st.sampled_from(MUTATIONS)), draw(st.integers(0, 2**16)))


@fuzz(100)
@given(text_files())
def test_read_split_file(data: bytes) -> None:
    from ecm.data.annotations import read_split_file

    with scratch() as tmp:
        path = _write(tmp, "split_test.txt", data)
        ids = result_or_input_error(lambda: read_split_file(path), path)
        assert all(v and "/" not in v and "\n" not in v for v in ids or [])


@fuzz(100)
@given(text_files())
def test_class_index_from_file(data: bytes) -> None:
    from ecm.data.annotations import ClassIndex

    with scratch() as tmp:
        path = _write(tmp, "classes.txt", data)
        result_or_input_error(lambda: ClassIndex.from_file(path), path)


@fuzz(100)
@given(text_files())
def test_read_span_files(data: bytes) -> None:
    from ecm.data.annotations import load_thumos_ambiguous, read_span_file

    with scratch() as tmp:
        path = _write(tmp, "Ambiguous_test.txt", data)
        spans = result_or_input_error(lambda: read_span_file(path), path)
        for _, start, end in spans or []:
            assert np.isfinite([start, end]).all() and start <= end
        result_or_input_error(lambda: load_thumos_ambiguous(path), path)


# --------------------------------------------------------------------------------------------------------
# .npy files: valid headers with wrong contents, corrupted headers, truncated data, object arrays


def npy_bytes(header: str, data: bytes, version: int = 1) -> bytes:
    """An ``.npy`` file with a literal ``header`` text (any text: it need not parse) and ``data``."""
    encoded = header.encode("latin1" if version < 3 else "utf-8", "replace")
    size_field = 2 if version == 1 else 4
    pad = (-(6 + 2 + size_field + len(encoded) + 1)) % 64
    encoded += b" " * pad + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(encoded))
    return b"\x93NUMPY" + bytes([version, 0]) + size + encoded + data


def saved(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


DESCRS = st.sampled_from(
    [
        "'<f4'",
        "'>f4'",
        "'<f8'",
        "'<f2'",
        "'<i4'",
        "'|b1'",
        "'|O'",
        "'<c8'",
        "'|V8'",
        "'<U3'",
        "[('a', '<f4')]",
        "[('a', '|O')]",
        "'xx'",
        "3",
        "None",
    ]
)
DIMS = st.one_of(st.integers(1, 6), st.sampled_from([0, -1, 2**31, 2**40, 2**62, 10**30]))
SHAPES = st.one_of(
    st.tuples(st.integers(1, 6), st.integers(1, 6)).map(repr),
    st.tuples(DIMS, DIMS).map(repr),
    st.lists(DIMS, max_size=3).map(lambda dims: repr(tuple(dims))),
    st.sampled_from(["[3, 4]", "3", "(3.5, 2)", "('a',)", "(True, 4)", "None"]),
)
ORDERS = st.sampled_from(["False", "False", "True", "0", "'no'"])


@st.composite
def npy_headers(draw: st.DrawFn) -> str:
    descr, order, shape = draw(DESCRS), draw(ORDERS), draw(SHAPES)
    keys = draw(st.sampled_from(["all", "all", "all", "missing", "extra", "not a dict"]))
    if keys == "missing":
        return f"{{'descr': {descr}, 'shape': {shape}, }}"
    if keys == "extra":
        return f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, 'x': 1, }}"
    if keys == "not a dict":
        return draw(st.sampled_from(["[1, 2]", "", "{", "(" * 300, "{'descr': '<f4'," + "(" * 50]))
    header = f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}"
    damage = draw(st.sampled_from(["none"] * 4 + ["cut", "char", "paren"]))
    at = draw(st.integers(0, len(header)))
    if damage == "cut":
        return header[:at]
    if damage == "char":
        return header[:at] + draw(st.sampled_from(["(", ")", "'", "\\", "\x00", "é", "{", "#"])) + header[at:]
    if damage == "paren":
        return header + "("
    return header


FLOAT_DTYPES = st.sampled_from(["<f4", ">f4", "<f8", "<f2", "<i4", "|b1", "<c8", "<u1"])


@st.composite
def npy_files(draw: st.DrawFn, width: int = 3) -> bytes:
    """The bytes of an ``.npy`` file: mostly (T, width) float32, else every kind of wrong."""
    kind = draw(st.sampled_from(["good"] * 3 + ["array", "header", "header", "object", "bytes", "mutated"]))
    if kind in ("good", "array", "mutated"):
        if kind == "array":
            dtype = draw(FLOAT_DTYPES)
            shape = draw(
                st.one_of(
                    st.tuples(st.integers(0, 4), st.integers(0, 4)),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                )
            )
        else:
            dtype, shape = "<f4", (draw(st.integers(1, 4)), width)
        array = draw(hnp.arrays(np.dtype(dtype), shape))
        if draw(st.booleans()):
            array = np.asfortranarray(array)
        data = saved(array)
        if kind == "mutated":
            at = draw(st.integers(0, len(data)))
            how = draw(st.sampled_from(["truncate", "flip", "extend"]))
            if how == "truncate":
                return data[:at]
            if how == "extend":
                return data + b"\x00" * draw(st.integers(1, 9))
            return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :] if at < len(data) else data
        return data
    if kind == "object":
        return saved(trap_array(draw(st.sampled_from([(2, 3), (4, 3), (3,)]))), allow_pickle=True)
    if kind == "bytes":
        return draw(
            st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"\x93NUMPY", b"\x93NUMPY\x01\x00"]))
        )
    header = draw(npy_headers())
    version = draw(st.sampled_from([1, 1, 2, 3, 9]))
    length = draw(st.sampled_from([0, 4, 11, 48, 96]))
    return npy_bytes(header, draw(st.binary(min_size=length, max_size=length)), version)


def _check_features(features: np.ndarray, width: int | None = None) -> None:
    assert features.dtype == np.float32 and features.ndim == 2 and features.shape[0] > 0
    assert width is None or features.shape[1] == width
    assert np.isfinite(features).all()


@fuzz(300)
@example(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }(", bytes(24)), b"")
@given(npy_files(), npy_files())
def test_npy_feature_store(rgb: bytes, flow: bytes) -> None:
    from ecm.data.features import NpyFeatureStore

    with scratch() as tmp:
        for stream, data in (("rgb", rgb), ("flow", flow)):
            folder = tmp / "features" / "test" / stream
            folder.mkdir(parents=True)
            _write(folder, f"{VID}.npy", data)
        store = result_or_input_error(lambda: NpyFeatureStore(tmp, "test"), tmp)
        if store is not None:
            count = result_or_input_error(lambda: store.num_snippets(VID), tmp)
            if count is not None:
                assert isinstance(count, int) and count > 0
            features = result_or_input_error(lambda: store.load(VID), tmp)
            if features is not None:
                _check_features(features, store.feature_dim)
        assert_not_unpickled()


# --------------------------------------------------------------------------------------------------------
# .npz files: ECM's layout (feat_spa, feat_tem of shape (D, T)), wrong members, corrupted archives


@st.composite
def npz_members(draw: st.DrawFn) -> np.ndarray:
    kind = draw(st.sampled_from(["good"] * 4 + ["array", "scalar", "object", "strings"]))
    if kind == "good":
        return draw(hnp.arrays(np.float32, (3, draw(st.integers(1, 4)))))
    if kind == "array":
        return draw(
            hnp.arrays(
                np.dtype(draw(FLOAT_DTYPES)), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
            )
        )
    if kind == "scalar":
        return np.asarray(draw(st.one_of(st.floats(), st.integers(-3, 3))))
    if kind == "object":
        return trap_array((3, 2))
    return np.asarray(draw(st.lists(st.text(max_size=3), max_size=2)))


NPZ_KEYS = ["feat_spa", "feat_tem", "cls_label", "frame_num", "fps", "vid_name"]


@st.composite
def npz_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["savez"] * 4 + ["raw members", "corrupted", "npy", "bytes"]))
    if kind == "bytes":
        return draw(
            st.one_of(
                st.binary(max_size=64), st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06" + b"\x00" * 18])
            )
        )
    if kind == "npy":
        return draw(npy_files())
    buffer = io.BytesIO()
    if kind == "raw members":
        with zipfile.ZipFile(buffer, "w") as archive:
            for key in draw(st.lists(st.sampled_from(NPZ_KEYS), unique=True, max_size=4)):
                archive.writestr(f"{key}.npy", draw(npy_files()))
        return buffer.getvalue()
    members = {}
    for key in NPZ_KEYS:
        if key in ("feat_spa", "feat_tem") and draw(st.integers(0, 5)) > 0:
            members[key] = draw(npz_members())
        elif key not in ("feat_spa", "feat_tem") and draw(st.booleans()):
            members[key] = draw(npz_members())
    compressed = draw(st.booleans())
    # np.savez pickles object arrays (allow_pickle defaults to True there): the trap goes into the file.
    if compressed:
        np.savez_compressed(buffer, **members)  # type: ignore[arg-type]
    else:
        np.savez(buffer, **members)  # type: ignore[arg-type]
    data = buffer.getvalue()
    if kind == "corrupted":
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if draw(st.booleans()):
            return data[:at]
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return data


@fuzz(300)
@example(b"")
@given(npz_files())
def test_npz_feature_store(data: bytes) -> None:
    from ecm.data.features import NpzFeatureStore

    with scratch() as tmp:
        _write(tmp, f"{VID}.npz", data)
        store = result_or_input_error(lambda: NpzFeatureStore(tmp), tmp)
        if store is not None:
            features = result_or_input_error(lambda: store.load(VID), tmp)
            if features is not None:
                _check_features(features, store.feature_dim)
            result_or_input_error(lambda: store.num_snippets(VID), tmp)
            result_or_input_error(lambda: store.meta(VID), tmp)
        assert_not_unpickled()


# --------------------------------------------------------------------------------------------------------
# ecm data check: a whole dataset folder, any of whose files may be broken; problems are reported


def _good_gt() -> bytes:
    entry = {"subset": "test", "annotations": [{"segment": [0.5, 1.5], "label": "Jump"}], "duration": 3.0}
    return json.dumps({"database": {VID: entry}}).encode()


@st.composite
def dataset_files(draw: st.DrawFn) -> dict[str, bytes | None]:
    """Relative path → bytes (``None``: absent) of a one-video dataset folder, each file good or broken."""

    def pick(good: bytes | None, bad: st.SearchStrategy[bytes]) -> bytes | None:
        return draw(st.one_of(st.just(good), st.just(good), st.none(), bad))

    good_npy = saved(np.ones((4, 3), np.float32))
    return {
        "gt.json": pick(_good_gt(), json_files(ACTIVITYNET_DOCS)),
        "split_test.txt": pick(f"{VID}\n".encode(), text_files()),
        "classes.txt": pick(b"Jump\n", text_files()),
        f"features/test/rgb/{VID}.npy": pick(good_npy, npy_files()),
        f"features/test/flow/{VID}.npy": pick(good_npy, npy_files()),
    }


@fuzz(150)
@given(dataset_files(), st.booleans())
def test_check_dataset_reports_instead_of_raising(files: dict[str, bytes | None], quick: bool) -> None:
    from ecm.data.check import check_dataset

    with scratch() as tmp:
        (tmp / "features" / "test" / "rgb").mkdir(parents=True)
        (tmp / "features" / "test" / "flow").mkdir(parents=True)
        for name, data in files.items():
            if data is not None:
                _write(tmp, name, data)
        report = check_dataset(tmp, quick=quick)  # any exception here is a failure: it must report
        for problem in report.problems:
            assert isinstance(problem, InputError)
            check_message(problem, tmp)
        report.summary_lines()
        assert_not_unpickled()
