"""Configs: the shipped recipes load and round-trip, the paper's recipes hold the paper's numbers, overrides are checked."""

from __future__ import annotations

import pytest

from ecm.config import config_from_dict, config_to_dict, load_config, recipe_names
from ecm.errors import InputError
from ecm.training import learning_rate

TINY = "synthetic-tiny"  # a shipped recipe


@pytest.mark.parametrize("name", recipe_names())
def test_every_shipped_recipe_loads_and_round_trips(name: str) -> None:
    config = load_config(name)
    assert config_from_dict(config_to_dict(config)) == config
    assert load_config(name, ["train.epochs=3"]).train.epochs == 3


def test_paper_recipes() -> None:
    thumos = load_config("thumos14")
    assert (thumos.model.topk, thumos.loss.beta * thumos.loss.alpha, thumos.train.batch_size) == (93, 5.0, 16)
    anet13 = load_config("activitynet13")
    assert anet13.model.topk == 60 and anet13.postprocess.tau == 0.05
    assert [learning_rate(anet13.optim, e) for e in (26, 27)] == pytest.approx([2e-4, 2e-5])
    assert load_config("activitynet12").model.topk == 25


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=ten", "integer"),
        ("train.nonsense=1", "unknown config key train.nonsense"),
        ("model.variant=bogus", "bogus"),
        ("data.test_sampling=sometimes", "one of"),
        ("optim.betas=[0.9]", "2 items"),
        ("postprocess.legacy_nms=maybe", "true or false"),
    ],
)
def test_overrides_are_type_checked(override: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_config(TINY, [override])
