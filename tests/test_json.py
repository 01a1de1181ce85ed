"""Reading JSON with orjson gives what the standard library gives, value for value and error for error:
on every JSON file the project ships or reads in its tests, on the documents that differ between the two
parsers, and through a whole `ecm evaluate`."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pytest

import ecm
from ecm import files
from ecm.cli import main
from ecm.errors import InputError

pytest.importorskip("orjson")

REPO = Path(__file__).resolve().parents[1]
TRICKY = [
    b'{"a": 1, "a": 2}',  # duplicate keys: the last wins
    b"[NaN, Infinity, -Infinity]",  # the standard library's literals, which orjson refuses
    b"[1e400, -1e400, 1e-400]",  # out of range: infinities and zero there, an error in orjson
    b'{"n": 99999999999999999999999}',  # past 64 bits: an int there, a float in orjson
    b"[18446744073709551615, -9223372036854775808, 9223372036854775807]",
    b'{"a":1234567890123456789, "b": [-99999999999999999999]}',
    b"[0.0019372297746673706, 12345678901234567890.5, 1e1234567890123456789]",  # long runs, not integers
    b"[1.0000000000000002, -0.0, 0.1, 5e-324, 1.7976931348623157e308, 123456789012345678901234567890.5]",
    b'"\\ud83d\\ude00 \\u00e9 \\n"',  # escapes and a surrogate pair
    b'"\\ud800"',  # a lone surrogate escape: the standard library keeps it, orjson refuses
    '"é ✓ 𝄞"'.encode(),
    b'\xef\xbb\xbf{"bom": 1}',  # a byte-order mark: an error in both
    b'{"bad": "\xff"}',  # invalid UTF-8: an error naming the byte
    b"[" * 2000 + b"]" * 2000,  # past orjson's nesting limit, within Python's
    b"[" * 200_000 + b"]" * 200_000,  # past Python's too
    b'{"a": [1, 2,]}',  # malformed in both
    b"",
    b'{"results": {}, "x": ' + b"9" * 5000 + b"}",  # past the interpreter's digit limit
    b'  {"x": true, "y": null, "z": [false]}  ',
]


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types, NaN equal to NaN and -0.0 told from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """(value or error message) with orjson, then with the standard library alone."""
    outcomes = []
    for parser in (files._orjson, None):
        with monkeypatch.context() as patch:
            patch.setattr(files, "_orjson", parser)
            try:
                outcomes.append(("value", files.parse_json_bytes(data, "f.json")))
            except InputError as exc:
                outcomes.append(("error", str(exc)))
    return outcomes[0], outcomes[1]


def _json_files() -> list[Path]:
    shared = REPO.parent / "shared" / "data"
    found = [
        *Path(ecm.__file__).parent.joinpath("resources").rglob("*.json"),
        *REPO.joinpath("tests").rglob("*.json"),
    ]
    if shared.is_dir():
        found += [p for p in shared.rglob("*.json") if p.stat().st_size < 50_000_000]
    return sorted(found)


@pytest.mark.parametrize("data", TRICKY, ids=range(len(TRICKY)))
def test_documents_the_parsers_disagree_on_read_the_same(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, plain = _both(data, monkeypatch)
    assert fast[0] == plain[0] and (_same(fast[1], plain[1]) if fast[0] == "value" else fast[1] == plain[1])


def test_every_json_file_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _json_files()
    own = sorted(Path(ecm.__file__).parent.joinpath("resources").rglob("*.json"))
    assert own and set(own) <= set(paths)  # at least the package's own (../shared's too where it is)
    for path in paths:
        fast, plain = _both(path.read_bytes(), monkeypatch)
        assert fast[0] == plain[0] == "value" and _same(fast[1], plain[1]), path
    packed = Path(ecm.__file__).parent / "resources" / "activitynet13" / "activitynet13_trainval.json.gz"
    fast, plain = _both(gzip.decompress(packed.read_bytes()), monkeypatch)
    assert _same(fast[1], plain[1])


def test_evaluate_reports_the_same_with_either_parser(
    tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = json.loads((tiny_root / "gt.json").read_text())["database"]
    results = {
        vid: [
            {
                "label": a["label"],
                "score": 0.1 + 0.01 * i,
                "segment": [a["segment"][0] + 0.3, a["segment"][1]],
            }
        ]
        for i, (vid, video) in enumerate(database.items())
        for a in video["annotations"][:1]
    }
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"results": results}))
    reports = []
    for parser in (files._orjson, None):
        monkeypatch.setattr(files, "_orjson", parser)
        assert main(["evaluate", "--gt", str(tiny_root / "gt.json"), "--pred", str(pred), "--json"]) == 0
        reports.append(capsys.readouterr().out)
    assert reports[0] == reports[1] and json.loads(reports[0])["mAP"]
