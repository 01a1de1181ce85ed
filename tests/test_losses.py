"""ECM losses: each term against a hand-computed value on a 2-class toy, the criterion's weights, stability."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from ecm.errors import InputError
from ecm.losses import (
    Criterion,
    LossConfig,
    LossWeights,
    a2c_loss,
    build_criterion,
    c2c_loss,
    normalise_labels,
    post_loss,
    pre_loss,
    variant_loss_weights,
)
from ecm.model import ModelOutput

# 2-class toy: video 0 has class 0, video 1 has both classes.
LABELS = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
PRE = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
POST = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
BACKGROUND = torch.tensor([[0.0, 1.0], [2.0, 0.0]])


def _log_softmax(values: list[float], i: int) -> float:
    return values[i] - math.log(sum(math.exp(v) for v in values))


def _ce(logits: list[list[float]]) -> float:
    """Hand form of L_pre / L_post on the toy labels (ŷ = [1, 0] and [½, ½])."""
    video0 = -_log_softmax(logits[0], 0)
    video1 = -0.5 * (_log_softmax(logits[1], 0) + _log_softmax(logits[1], 1))
    return (video0 + video1) / 2


def _a2c_hand() -> float:
    # video 0: entries [s_post, q] = [0, 0, 0, 1]; class 0 present → p[0] → 1, p[2] → 0
    e = math.e
    p = [1 / (3 + e), 1 / (3 + e), 1 / (3 + e), e / (3 + e)]
    video0 = -(math.log(p[0]) + math.log(1 - p[2])) / 2
    # video 1: entries [1, 1, 2, 0]; both present → p[0], p[1] → 1, p[2], p[3] → 0
    z = 2 * e + e**2 + 1
    p = [e / z, e / z, e**2 / z, 1 / z]
    video1 = -(math.log(p[0]) + math.log(p[1]) + math.log(1 - p[2]) + math.log(1 - p[3])) / 4
    return (video0 + video1) / 2


def test_label_normalisation() -> None:
    torch.testing.assert_close(normalise_labels(LABELS), torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    assert torch.all(normalise_labels(torch.zeros(1, 2)) == 0)


def test_pre_and_post_loss_hand_computed() -> None:
    assert pre_loss(PRE, LABELS).item() == pytest.approx(_ce([[1, 0], [0, 2]]), rel=1e-6)
    assert post_loss(POST, LABELS).item() == pytest.approx(_ce([[0, 0], [1, 1]]), rel=1e-6)
    # ½ · (log(1 + e⁻¹) + ½ · (2 + 2 log(1 + e⁻²))) = ½ · (0.313262 + 1.126928)
    assert pre_loss(PRE, LABELS).item() == pytest.approx(0.720095, abs=1e-6)


def test_c2c_loss_hand_computed() -> None:
    assert c2c_loss(PRE, POST).item() == pytest.approx((1 + 0 + 1 + 1) / 4)


def test_a2c_loss_hand_computed() -> None:
    assert a2c_loss(POST, BACKGROUND, LABELS).item() == pytest.approx(_a2c_hand(), rel=1e-6)


def test_a2c_matches_bce_loop_and_ignores_unlabelled_videos() -> None:
    torch.manual_seed(0)
    post, bg = torch.randn(4, 5), torch.randn(4, 5)
    labels = (torch.rand(4, 5) > 0.6).float()
    labels[0] = 0.0  # no present class: contributes 0, still counted in the batch
    labels[1, 2] = 1.0
    p_agg = torch.softmax(torch.cat([post, bg], dim=1), dim=1)
    total = torch.zeros(())
    for b in range(4):
        idx = labels[b].nonzero().flatten()
        if idx.numel():
            target = torch.cat([torch.ones(idx.numel()), torch.zeros(idx.numel())])
            total = total + torch.nn.functional.binary_cross_entropy(
                p_agg[b, torch.cat([idx, idx + 5])], target
            )
    torch.testing.assert_close(a2c_loss(post, bg, labels), total / 4)


def test_a2c_saturates_like_bce_without_nan() -> None:
    post = torch.tensor([[-500.0, 0.0]], requires_grad=True)
    bg = torch.tensor([[600.0, 900.0]], requires_grad=True)  # p_agg[0] underflows, p_agg[3] rounds to 1
    labels = torch.tensor([[1.0, 0.0]])
    loss = a2c_loss(post, bg, labels)
    p_agg = torch.softmax(torch.cat([post, bg], dim=1), dim=1).detach()
    expected = torch.nn.functional.binary_cross_entropy(p_agg[0, [0, 2]], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert post.grad is not None and bg.grad is not None
    assert torch.isfinite(post.grad).all() and torch.isfinite(bg.grad).all()


def _output() -> ModelOutput:
    return ModelOutput(
        cas=torch.zeros(2, 2, 5),
        video_logits=PRE,
        pre_logits=PRE,
        post_logits=POST,
        background_logits=BACKGROUND,
    )


def test_criterion_terms_and_total() -> None:
    cfg = LossConfig()
    losses = build_criterion(cfg)(_output(), LABELS)
    assert set(losses) == {"pre", "post", "c2c", "a2c", "total"}
    expected = _ce([[1, 0], [0, 2]]) + _ce([[0, 0], [1, 1]]) + 0.05 * (0.75 + 100.0 * _a2c_hand())
    assert losses["total"].item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("term", ["pre", "post", "c2c", "a2c"])
def test_changing_a_weight_changes_total_by_that_term(term: str) -> None:
    base = {"pre": 1.0, "post": 1.0, "c2c": 0.05, "a2c": 5.0}
    low = Criterion(**base)(_output(), LABELS)
    high = Criterion(**{**base, term: base[term] + 0.5})(_output(), LABELS)
    torch.testing.assert_close(high["total"] - low["total"], 0.5 * low[term])
    assert all(torch.equal(high[name], low[name]) for name in ("pre", "post", "c2c", "a2c"))


def test_variant_loss_weights() -> None:
    cfg = LossConfig()
    weights = variant_loss_weights("ecm", cfg)
    assert (weights.pre, weights.post, weights.c2c) == (1.0, 1.0, 0.05)
    assert weights.a2c == pytest.approx(5.0)
    assert variant_loss_weights("pre_only", cfg) == LossWeights(pre=1.0, post=0.0, c2c=0.0, a2c=0.0)
    assert variant_loss_weights("post_only", cfg) == LossWeights(pre=0.0, post=1.0, c2c=0.0, a2c=0.0)
    assert variant_loss_weights("no_a2c+no_c2c", cfg).a2c == 0.0
    assert variant_loss_weights("no_c2c", cfg).c2c == 0.0
    assert variant_loss_weights("ecm", LossConfig(alpha=20.0)).a2c == pytest.approx(1.0)  # ActivityNet


def test_absent_terms_are_zero_or_an_error() -> None:
    pre_only = ModelOutput(cas=torch.zeros(2, 2, 5), video_logits=PRE, pre_logits=PRE)
    losses = build_criterion(LossConfig(), "pre_only")(pre_only, LABELS)
    assert losses["post"].item() == 0.0 and losses["a2c"].item() == 0.0
    torch.testing.assert_close(losses["total"], losses["pre"])
    with pytest.raises(ValueError, match="post"):
        build_criterion(LossConfig(), "ecm")(pre_only, LABELS)


def test_zero_weight_term_is_still_reported() -> None:
    losses = build_criterion(LossConfig(), "no_a2c")(_output(), LABELS)
    assert losses["a2c"].item() == pytest.approx(_a2c_hand(), rel=1e-6)
    expected = _ce([[1, 0], [0, 2]]) + _ce([[0, 0], [1, 1]]) + 0.05 * 0.75
    assert losses["total"].item() == pytest.approx(expected, rel=1e-6)


def _finite(values: dict[str, Tensor]) -> bool:
    return all(bool(torch.isfinite(v)) for v in values.values())


def test_huge_logits_stay_finite() -> None:
    big = ModelOutput(
        cas=torch.zeros(2, 2, 5),
        video_logits=PRE * 1e6,
        pre_logits=PRE * 1e6,
        post_logits=POST * 1e6,
        background_logits=BACKGROUND * 1e6,
    )
    assert _finite(build_criterion(LossConfig())(big, LABELS))


def test_warm_up_and_ramp_scale_the_post_terms_only() -> None:
    config = LossConfig(warmup_epochs=3, ramp_epochs=2)
    assert [config.post_factor(e) for e in (1, 3, 4, 5, 6)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert LossConfig().post_factor(1) == 1.0  # the paper: no warm-up
    criterion = Criterion(pre=1.0, post=1.0, c2c=0.05, a2c=5.0)
    half = criterion.scaled(0.5)
    assert half.weights == {"pre": 1.0, "post": 0.5, "c2c": 0.025, "a2c": 2.5}
    assert criterion.scaled(0.0).weights == {"pre": 1.0, "post": 0.0, "c2c": 0.0, "a2c": 0.0}
    with pytest.raises(InputError):
        LossConfig(warmup_epochs=-1)
