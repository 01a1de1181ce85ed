"""Study planning and results as library functions: variant and seed parsing, curve dynamics, paired statistics."""

from __future__ import annotations

from typing import Any

import pytest

from ecm.errors import InputError
from ecm.studies.compare import PairedDifference, compare_studies, study_config_differences, t_test_p_value
from ecm.studies.plan import canonical_variant, parse_seeds, parse_variants
from ecm.studies.results import Spread, Study, StudyRow, curve_dynamics


def _fake_study(values: dict[int, float], config: dict[str, Any] | None = None) -> Study:
    row = StudyRow(
        key="ecm",
        title="full ECM",
        kind="variant",
        paper=None,
        seeds=tuple(values),
        metrics={"last": {"mAP@0.5": Spread.of(list(values.values()))}},
        runs=(),
    )
    return Study(None, (), config or {}, ("ecm",), tuple(values), 1, "mAP@0.5", (0.5,), (row,))


def test_compare_says_when_fewer_than_two_seeds_pair() -> None:
    (pair,) = compare_studies(_fake_study({0: 10.0, 1: 12.0}), _fake_study({1: 15.0, 2: 20.0}))
    assert pair.seeds == (1,) and pair.differences == (3.0,)
    assert pair.mean == 3.0 and pair.std is None and pair.t is None and pair.p_value is None


def test_an_option_added_since_an_older_study_is_no_config_difference() -> None:
    # The older study predates train.swa_start and train.ema_decay: its runs ran with today's defaults.
    older = _fake_study({0: 1.0}, {"train": {"epochs": 150}, "loss": {"warmup_epochs": 15}})
    newer = {"train": {"epochs": 150, "swa_start": 0, "ema_decay": 0.0}, "loss": {"warmup_epochs": 30}}
    assert study_config_differences(older, _fake_study({0: 1.0}, newer)) == [("loss.warmup_epochs", 15, 30)]
    newer["train"]["ema_decay"] = 0.99
    assert study_config_differences(older, _fake_study({0: 1.0}, newer)) == [
        ("loss.warmup_epochs", 15, 30),
        ("train.ema_decay", 0.0, 0.99),
    ]
    # A key this version does not know: both compared as stored, entry by entry.
    unknown = _fake_study(
        {0: 1.0}, {"train": {"epochs": 150, "future_knob": 1}, "loss": {"warmup_epochs": 15}}
    )
    assert study_config_differences(older, unknown) == [("train.future_knob", None, 1)]


def test_paired_statistics_by_hand() -> None:
    pair = PairedDifference("ecm", "full ECM", (0, 1, 2), (10.0, 11.0, 12.0), (11.0, 13.0, 15.0))
    assert pair.differences == (1.0, 2.0, 3.0) and pair.mean == 2.0 and pair.std == 1.0
    assert pair.t == pytest.approx(2.0 * 3**0.5)
    # Two-sided 5 % critical values of Student's t.
    for df, t in ((1, 12.7062), (2, 4.3027), (3, 3.1824), (5, 2.5706), (10, 2.2281), (30, 2.0423)):
        assert t_test_p_value(t, df) == pytest.approx(0.05, abs=2e-5), df
    assert t_test_p_value(0.0, 4) == pytest.approx(1.0)


def test_curve_dynamics_by_hand() -> None:
    # 150 epochs evaluated every 5: the late window is round(0.2 · 150) = 30 epochs, so 150 vs 120.
    curve = [(e, 0.0) for e in range(5, 90, 5)] + [(90, 0.7), (95, 1.0), (120, 8.1), (150, 11.5)]
    assert curve_dynamics(curve) == (95, pytest.approx(3.4))
    # Unordered input; the reference is the latest epoch at or before the cut (12 − 2 = 10 → epoch 9).
    assert curve_dynamics([(12, 5.0), (3, 2.0), (9, 4.5)]) == (3, pytest.approx(0.5))
    assert curve_dynamics([(5, 0.9), (10, 0.99)]) == (None, pytest.approx(0.09))
    assert curve_dynamics([(2, 3.0)]) == (2, None)
    assert curve_dynamics([]) == (None, None)


def test_variant_and_seed_parsing() -> None:
    assert canonical_variant("no_c2c+no_a2c") == "no_a2c+no_c2c"
    assert canonical_variant("no_c2c + no_transition + no_a2c") == "no_transition+no_a2c+no_c2c"
    assert canonical_variant("paper_background+no_c2c") == "no_c2c+paper_background"
    assert parse_variants("ecm, paper_background, pre_only") == ("pre_only", "ecm", "paper_background")
    assert parse_variants(None)[:2] == ("pre_only", "post_only") and parse_variants(None)[-1] == "ecm"
    with pytest.raises(InputError, match="twice"):
        parse_variants("no_a2c+no_c2c,no_c2c+no_a2c")
    assert parse_seeds("3", 16) == (16, 17, 18)
    assert parse_seeds("16,", 0) == (16,) and parse_seeds("7,3", 0) == (7, 3)
    for bad in ("0", "x", "1,1", "-1,"):
        with pytest.raises(InputError, match="--seeds"):
            parse_seeds(bad, 0)
