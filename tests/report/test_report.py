"""`ecm report`: the page's data against independent paths (`ecm localize`, `ecm evaluate`), and the page
itself in headless Chromium (skipped, with the reason, where no browser and driver are installed)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecm.cli import main
from ecm.config import load_config
from ecm.inference import localize_split, open_split_for_run
from ecm.report.collect import collect_report
from ecm.report.page import write_page
from ecm.training.checkpoint import load_run


def page_data(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@pytest.fixture(scope="module")
def localized(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run's own detections on its test split, written by `ecm localize`."""
    path = tmp_path_factory.mktemp("localized") / "pred.json"
    assert main(["localize", str(tiny_run), "--out", str(path), "--quiet"]) == 0
    return path


@pytest.fixture(scope="module")
def report(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(tiny_run), "--out", str(path), "--quiet"]) == 0
    return path


def test_the_page_is_self_contained_and_holds_every_test_video(report: Path, tiny_root: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched at view time
    test_videos = (tiny_root / "split_test.txt").read_text().split()
    data = page_data(report)
    assert [v["id"] for v in data["videos"]] == test_videos
    assert data["run"]["paper_recipe"] == "thumos14"
    assert ["train.epochs", 150, 3] in data["run"]["differences"]
    assert [p["epoch"] for p in data["protocols"]] == [3, 3]  # best on test, last (no validation split)
    assert len(data["curves"]["epoch"]) == 3 and set(data["curves"]["loss"]) >= {"pre", "post", "total"}


def test_detections_and_scores_equal_localize_and_evaluate(
    report: Path, localized: Path, tiny_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = page_data(report)
    given = json.loads(localized.read_text())["results"]
    for video in data["videos"]:
        det = video["det"]
        assert len(det["start"]) == len(given[video["id"]]) == sum(video["counts"])
        assert det["score"] == sorted(det["score"], reverse=True)  # best first
        labels = Counter(data["classes"][k] for k in det["label"])
        assert labels == Counter(d["label"] for d in given[video["id"]])
        assert (video["ap"] is None) == (not video["gt"])
    capsys.readouterr()
    assert main(["evaluate", "--gt", str(tiny_root / "gt.json"), "--pred", str(localized), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert data["results"]["map_at_tiou"] == pytest.approx(scored["mAP"]["0.5"], abs=1e-3)
    assert sum(r["count"] for r in data["diagnosis"]["rows"]) == data["diagnosis"]["num_predictions"]


def test_the_gate_equals_softmax_of_the_saved_cas(
    report: Path, tiny_run: Path, tiny_root: Path, tmp_path: Path
) -> None:
    """Which ground-truth classes τ shuts, recomputed from `ecm localize --save-cas`: s_pre is the mean of
    the top min(k, T) CAS logits per class (k = int(train_length · topk_ratio)), p = softmax(s_pre)."""
    cas_dir = tmp_path / "cas"
    out = tmp_path / "pred.json"
    assert main(["localize", str(tiny_run), "--out", str(out), "--save-cas", str(cas_dir), "--quiet"]) == 0
    config = load_config(tiny_run / "config.yaml")
    k = int(config.model.train_length * config.model.topk_ratio)
    data = page_data(report)
    database = json.loads((tiny_root / "gt.json").read_text())["database"]
    present: dict[str, list[int]] = {}
    probability: dict[str, np.ndarray] = {}
    for video in data["videos"]:
        cas = np.load(cas_dir / f"{video['id']}.npy").astype(np.float64)  # (C, T)
        logits = np.sort(cas, axis=1)[:, ::-1][:, : min(k, cas.shape[1])].mean(axis=1)
        probability[video["id"]] = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        present[video["id"]] = sorted(
            {data["classes"].index(a["label"]) for a in database[video["id"]]["annotations"]}
        )

    def expected(tau: float) -> dict[str, list[tuple[int, float]]]:
        return {
            v: [(c, probability[v][c]) for c in cs if probability[v][c] < tau] for v, cs in present.items()
        }

    # The page, at the run's τ: per video, and per class over its videos.
    assert data["tau"] == config.postprocess.tau
    want = expected(data["tau"])
    for video in data["videos"]:
        assert [c for c, *_ in video["gated"]] == [c for c, _ in want[video["id"]]]
        assert [q for _, q, _ in video["gated"]] == pytest.approx([q for _, q in want[video["id"]]], abs=1e-3)
        assert all(bar == data["tau"] for *_, bar in video["gated"])  # the absolute gate's bar: τ itself
    videos = Counter(data["classes"][c] for cs in present.values() for c in cs)
    shut = Counter(data["classes"][c] for gated in want.values() for c, _ in gated)
    per_class = {c["name"]: (c["videos"], c["gated"]) for c in data["results"]["per_class"]}
    assert per_class == {name: (videos[name], shut[name]) for name in per_class}

    # The 3-epoch run keeps every class there; at a τ between two of its probabilities (far from both)
    # some are shut and some not: the page's counts and rows, and the gate of the post-processing itself.
    values = sorted({float(probability[v][c]) for v, cs in present.items() for c in cs})
    gaps = [(b - a, (a + b) / 2) for a, b in itertools.pairwise(values)]
    middle = max(gap for gap in gaps[len(gaps) // 4 : 3 * len(gaps) // 4 + 1])[1]
    assert min(abs(x - middle) for x in values) > 1e-6
    run = load_run(tiny_run, "best", "cpu")
    config = run.config
    run = dataclasses.replace(
        run,
        config=dataclasses.replace(config, postprocess=dataclasses.replace(config.postprocess, tau=middle)),
    )
    split = open_split_for_run(run, None, None)
    localized = localize_split(run, split)
    page = collect_report(run, split, localized, data_root=tiny_root, tiou=0.5)
    want = expected(middle)
    assert 0 < sum(map(len, want.values())) < sum(map(len, present.values()))
    for video in page["videos"]:
        assert [c for c, *_ in video["gated"]] == [c for c, _ in want[video["id"]]]
        kept = {d.label for d in localized.detections[video["id"]]}
        assert not kept & {page["classes"][c] for c, *_ in video["gated"]}  # shut: nothing localized
    shut = Counter(page["classes"][c] for gated in want.values() for c, _ in gated)
    assert {c["name"]: c["gated"] for c in page["results"]["per_class"]} == {
        c["name"]: shut[c["name"]] for c in page["results"]["per_class"]
    }

    # The relative gate (p < τ · max p shuts), at a τ between two of the ratios p / max p.
    ratios = sorted(
        {float(probability[v][c] / probability[v].max()) for v, cs in present.items() for c in cs}
    )
    gaps = [(b - a, (a + b) / 2) for a, b in itertools.pairwise(ratios)]
    middle = max(gaps)[1]
    post = dataclasses.replace(config.postprocess, tau=middle, gate="relative")
    run = dataclasses.replace(run, config=dataclasses.replace(config, postprocess=post))
    localized = localize_split(run, split)
    page = collect_report(run, split, localized, data_root=tiny_root, tiou=0.5)
    assert page["gate"] == "relative"
    want = {
        v: [(c, probability[v][c]) for c in cs if probability[v][c] < middle * probability[v].max()]
        for v, cs in present.items()
    }
    assert 0 < sum(map(len, want.values())) < sum(map(len, present.values()))
    for video in page["videos"]:
        assert [c for c, *_ in video["gated"]] == [c for c, _ in want[video["id"]]]
        bars = [bar for *_, bar in video["gated"]]
        assert bars == pytest.approx([middle * probability[video["id"]].max()] * len(bars), abs=1e-3)
        kept = {d.label for d in localized.detections[video["id"]]}
        assert not kept & {page["classes"][c] for c, *_ in video["gated"]}


def test_a_predictions_file_replaces_the_checkpoints_detections(
    tiny_run: Path, tiny_root: Path, tmp_path: Path
) -> None:
    database = json.loads((tiny_root / "gt.json").read_text())["database"]
    results = {  # every test instance found exactly, plus one false alarm per video
        vid: [{"label": a["label"], "score": 0.9, "segment": a["segment"]} for a in v["annotations"]]
        + [{"label": "Diving", "score": 0.1, "segment": [0.0, 0.5]}]
        for vid, v in database.items()
        if v["subset"] == "test"
    }
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"results": results}))
    out = tmp_path / "r.html"
    assert main(["report", str(tiny_run), "--pred", str(pred), "--out", str(out), "--quiet"]) == 0
    data = page_data(out)
    assert data["results"]["map_at_tiou"] == pytest.approx(100.0)
    for video in data["videos"]:
        assert video["ap"] == pytest.approx(100.0)
        assert video["counts"][0] == len(video["gt"])  # every instance a true positive
        assert len(video["det"]["start"]) == len(results[video["id"]])


# ---------------------------------------------------------------------------------------------- browser
def _browser() -> Any:
    """A headless Chromium driven by selenium, or a skip saying what is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("no chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1800")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


def _wait(condition: Any, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the page")


def test_the_page_in_chromium(report: Path, localized: Path, tiny_root: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser = _browser()
    try:
        browser.get(report.resolve().as_uri())
        _wait(lambda: browser.execute_script("return document.body.getAttribute('data-ready')") == "true")
        problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert not problems, problems

        test_videos = (tiny_root / "split_test.txt").read_text().split()
        rows = browser.find_elements(By.CSS_SELECTOR, "#video-rows tr.video")
        assert sorted(r.get_attribute("data-video") for r in rows) == sorted(test_videos)

        def shown() -> list[tuple[str, float]]:
            found = browser.find_elements(By.CSS_SELECTOR, "#video-rows tr.video")
            return [
                (r.get_attribute("data-video"), float(r.find_element(By.CSS_SELECTOR, "td.ap").text))
                for r in found
            ]

        ascending = shown()  # the page opens sorted by AP, worst first
        assert [ap for _, ap in ascending] == sorted(ap for _, ap in ascending)
        browser.find_element(By.CSS_SELECTOR, "th[data-column='1']").click()
        descending = shown()
        assert [ap for _, ap in descending] == sorted((ap for _, ap in descending), reverse=True)
        assert [v for v, _ in descending] != [v for v, _ in ascending]

        given = json.loads(localized.read_text())["results"]
        video = max(given, key=lambda v: len(given[v]))  # the busiest timeline
        row = browser.find_element(By.CSS_SELECTOR, f"#video-rows tr.video[data-video='{video}']")
        browser.execute_script("arguments[0].scrollIntoView()", row)
        timeline = _wait(
            lambda: browser.find_elements(By.CSS_SELECTOR, f"svg.timeline[data-video='{video}']")
        )[0]
        marks = timeline.find_elements(By.CSS_SELECTOR, "rect.det")
        assert len(marks) == len(given[video]) > 0

        browser.find_element(By.CSS_SELECTOR, "#class-filter option[value='Diving']").click()
        count = browser.find_element(By.ID, "video-count").text
        assert count.endswith(f"of {len(test_videos)} videos")

        shot = tmp_path / "report.png"
        browser.execute_script("window.scrollTo(0, 0)")
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.quit()


def test_the_page_shows_what_the_gate_shuts_in_chromium(report: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    data = page_data(report)
    video = next(v for v in data["videos"] if v["gt"])
    shut = video["gt"][0][2]
    video["gated"] = [[shut, 0.1234]]
    row = next(c for c in data["results"]["per_class"] if c["name"] == data["classes"][shut])
    row["gated"] = 1
    page = tmp_path / "gated.html"
    write_page(page, data)
    browser = _browser()
    try:
        browser.get(page.resolve().as_uri())
        _wait(lambda: browser.execute_script("return document.body.getAttribute('data-ready')") == "true")
        assert not [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        first = browser.find_element(By.CSS_SELECTOR, f"#video-rows tr.video[data-video='{video['id']}'] td")
        assert f"{data['classes'][shut]} (p 0.123 < τ {data['tau']:g})" in first.text
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table td")]
        assert f"1 of {row['videos']}" in cells
        # the relative gate: each video's own bar, τ · max p
        data["gate"] = "relative"
        video["gated"] = [[shut, 0.1234, 0.1875]]
        write_page(page, data)
        browser.get(page.resolve().as_uri())
        _wait(lambda: browser.execute_script("return document.body.getAttribute('data-ready')") == "true")
        first = browser.find_element(By.CSS_SELECTOR, f"#video-rows tr.video[data-video='{video['id']}'] td")
        assert f"{data['classes'][shut]} (p 0.123 < τ · max p 0.188)" in first.text
        headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table th")]
        assert "videos below τ · max p" in headers
    finally:
        browser.quit()
