"""The shipped recipes: found by name wherever ecm is installed, a path still works, `ecm config list/show`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ecm.cli import main
from ecm.config import config_from_dict, dump_config, load_config, recipe_names
from ecm.config.diff import config_differences
from ecm.config.recipes import is_recipe_name, recipe_header, recipe_summary
from ecm.errors import InputError

PAPER = ("activitynet12", "activitynet13", "thumos14")


def test_the_paper_recipes_and_the_synthetic_ones_are_shipped() -> None:
    names = recipe_names()
    assert set(PAPER) | {"demo", "synthetic-tiny", "synthetic-thumos14-lite", "synthetic-thumos14"} <= set(
        names
    )
    assert list(names) == sorted(names)
    assert all(recipe_summary(name) for name in names)  # every recipe says in one line what it is
    assert "NOT the paper's recipe" in recipe_header("demo")


def test_the_fast_recipe_is_the_paper_recipe_plus_its_options_only() -> None:
    differences = config_differences(load_config("thumos14"), load_config("thumos14-fast"))
    assert differences == [
        ("model.aggregation", "sum", "mean"),
        ("loss.warmup_epochs", 0, 30),
        ("optim.lr_steps", [], [80, 120]),
        ("train.ema_decay", 0.0, 0.99),
        ("train.ema_start", 1, 51),
        ("postprocess.gate", "absolute", "relative"),
    ]
    assert load_config("thumos14").model.aggregation == "sum"  # the paper's default is untouched
    # the earlier versions, as the recipe's header names them
    third = ["postprocess.gate=absolute", "train.ema_decay=0", "train.ema_start=1", "optim.lr_steps=[80]"]
    assert config_differences(load_config("thumos14"), load_config("thumos14-fast", third)) == [
        ("model.aggregation", "sum", "mean"),
        ("loss.warmup_epochs", 0, 30),
        ("optim.lr_steps", [], [80]),
    ]
    # the demo trains with that recipe, shorter, evaluated once, on its own synthetic data
    demo = config_differences(load_config("thumos14-fast"), load_config("demo"))
    assert [key for key, _, _ in demo] == [
        "data.root",
        "data.synthetic",
        "train.epochs",
        "train.eval_interval",
        "train.ema_decay",
        "train.ema_start",
        "postprocess.gate",
    ]


def test_the_activitynet_fast_recipe_is_the_paper_recipe_plus_the_fast_start_only() -> None:
    differences = config_differences(load_config("activitynet13"), load_config("activitynet13-fast"))
    assert differences == [("model.aggregation", "sum", "mean"), ("loss.warmup_epochs", 0, 7)]


def test_names_and_paths() -> None:
    assert is_recipe_name("thumos14") and is_recipe_name("synthetic-tiny")
    assert not is_recipe_name("thumos14.yaml") and not is_recipe_name("configs/thumos14")
    with pytest.raises(InputError, match=r"no recipe named 'thumos15'.*thumos14"):
        load_config("thumos15")
    with pytest.raises(InputError, match="config file not found"):
        load_config("missing.yaml")


def test_a_yaml_file_still_works_and_show_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "thumos14", "--set", "train.epochs=7"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# THUMOS14, the paper's recipe")
    edited = tmp_path / "mine.yaml"
    edited.write_text(text)
    config = load_config(edited)
    assert config == load_config("thumos14", ["train.epochs=7"])
    assert config_from_dict(yaml.safe_load(dump_config(config))) == config


def test_config_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(recipe_names())
    assert main(["config", "show", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nonsense" in err and "thumos14" in err
