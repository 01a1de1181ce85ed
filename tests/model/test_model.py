"""ECM model: shapes, top-k, folds, class-specific scoring, parity of the batched streams with the SPEC loops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ecm.errors import InputError
from ecm.losses import LossConfig, build_criterion
from ecm.model import ECM, VARIANTS, Classifier, ModelConfig, SnippetEmbedding, build_model, parse_variant
from ecm.model.classifier import combine_fold_taps, temporal_conv, to_folds
from ecm.model.streams import fold_aggregate

B, T, D, H, C = 3, 11, 6, 5, 4
ALL_VARIANTS = [
    *VARIANTS,
    "no_transition+no_a2c+no_c2c",
    "no_a2c+no_c2c",
    "class_agnostic_weights+paper_background",
]


def _labels() -> Tensor:
    """Video 0: one class; video 1: three classes; video 2: none."""
    y = torch.zeros(B, C)
    y[0, 2] = 1.0
    y[1, [0, 1, 3]] = 1.0
    return y


def _model(variant: str = "ecm", *, dropout: float = 0.0, seed: int = 0) -> ECM:
    torch.manual_seed(seed)
    cfg = ModelConfig(variant=variant, hidden_dim=H, dropout=dropout, train_length=16, topk_ratio=0.25)
    return build_model(cfg, num_classes=C, feature_dim=D)


# --- straightforward SPEC-form reference (channels-first Conv1d, Python loops) -------------------------


def _embed_ref(model: ECM, x: Tensor) -> Tensor:
    """E on channels-first ``(N, D, L)`` with plain ``F.conv1d`` (dropout must be 0)."""
    emb = model.embedding
    h = F.leaky_relu(emb.conv1(x), emb.leaky_slope)
    return F.leaky_relu(emb.conv2(h), emb.leaky_slope)


def _score_ref(model: ECM, x_td: Tensor, weights: Tensor) -> Tensor:
    """SPEC §3 for one video: x ``(T, D)``, weights ``(C, T)`` → ``(C,)`` post logits."""
    folds = []
    for i in range(3):
        z = torch.zeros(C, x_td.shape[1])
        for t in range(i, x_td.shape[0], 3):
            z = z + weights[:, t : t + 1] * x_td[t]
        folds.append(z)
    z = torch.stack(folds, dim=2)  # (C, D, 3)
    h = _embed_ref(model, z)  # (C, H, 3)
    w = model.classifier.conv.weight  # (C, H, 1)
    grouped = F.conv1d(h.reshape(1, C * H, 3), w, groups=C)  # (1, C, 3)
    return grouped[0].mean(dim=1)


def _reference(model: ECM, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
    cas = model.classifier.conv(_embed_ref(model, x.transpose(1, 2)))  # (B, C, T)
    assert model.transition is not None
    weights = torch.sigmoid(model.transition.conv(cas))  # (B, C, T)
    post = torch.stack([_score_ref(model, x[b], weights[b]) for b in range(B)])
    q = torch.zeros(B, C)
    for b in range(B):
        present = [g for g in range(C) if labels[b, g] > 0]
        if not present:
            continue
        r = {g: _score_ref(model, x[b] * (1 - weights[b, g]).unsqueeze(1), weights[b]) for g in present}
        for c in range(C):
            q[b, c] = r[c][c] if c in present else torch.stack([r[g][c] for g in present]).mean()
    k = min(model.topk, x.shape[1])
    pre = cas.topk(k, dim=2).values.mean(dim=2)
    return {"cas": cas, "pre": pre, "weights": weights, "post": post, "q": q}


# --- tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_output_shapes_train_and_eval(variant: str) -> None:
    model = _model(variant, dropout=0.5)
    spec = parse_variant(variant)
    x = torch.randn(B, T, D)
    out = model(x, _labels())
    k = 1 if spec.class_agnostic else C
    assert out.cas.shape == (B, C, T)
    assert out.video_logits.shape == (B, C)
    assert (out.pre_logits is None) == (not spec.pre_stream)
    assert (out.post_logits is None) == (not spec.post_stream)
    assert (out.background_logits is None) == (not spec.a2c)
    if spec.post_stream:
        assert out.weights is not None and out.weights.shape == (B, k, T)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.cas.shape == (B, C, T) and out.video_logits.shape == (B, C)
    assert out.background_logits is None
    assert (out.post_logits is None) == spec.pre_stream  # only post_only runs its post stream in eval


def test_topk_sizes() -> None:
    assert ModelConfig().topk == 93  # int(750 / 8)
    assert ModelConfig(train_length=100, topk_ratio=0.25).topk == 25
    assert ModelConfig(train_length=100, topk_ratio=0.6).topk == 60


@pytest.mark.parametrize("length", [7, 3, 1])  # T not divisible by 3, T < k = 4
def test_topk_mean_of_largest_cas(length: int) -> None:
    model = _model().eval()
    out = model(torch.randn(2, length, D))
    assert out.pre_logits is not None
    k = min(4, length)
    expected = out.cas.sort(dim=2, descending=True).values[:, :, :k].mean(dim=2)
    torch.testing.assert_close(out.pre_logits, expected)
    torch.testing.assert_close(out.video_logits, expected)


@pytest.mark.parametrize("length", [7, 8, 2])
def test_fold_assignment_t_mod_3(length: int) -> None:
    weights = torch.rand(2, 3, length)
    taps = torch.randn(2, length, 3, 4)
    out = fold_aggregate(weights, to_folds(taps.flatten(2), 3).unflatten(-1, (3, 4)))
    assert out.shape == (2, 3, 3, 3, 4)
    for i in range(3):
        expected = torch.zeros(2, 3, 3, 4)
        for t in range(length):
            if t % 3 == i:
                expected += weights[:, :, t, None, None] * taps[:, None, t]
        torch.testing.assert_close(out[:, :, i], expected)


def test_grouped_scoring_uses_row_c_only() -> None:
    torch.manual_seed(1)
    clf = Classifier(H, C)
    h = torch.randn(2, C, H)
    scores = clf.score_grouped(h)
    for c in range(C):
        torch.testing.assert_close(scores[:, c], h[:, c] @ clf.conv.weight[c, :, 0])
    grouped = F.conv1d(h.reshape(2, C * H, 1), clf.conv.weight, groups=C)[:, :, 0]
    torch.testing.assert_close(scores, grouped)


def test_time_major_embedding_equals_conv1d() -> None:
    torch.manual_seed(2)
    emb = SnippetEmbedding(D, H, dropout=0.0, leaky_slope=0.01)
    for length in (1, 2, 3, 9):
        x = torch.randn(2, length, D)
        ref = F.leaky_relu(emb.conv2(F.leaky_relu(emb.conv1(x.transpose(1, 2)), 0.01)), 0.01)
        torch.testing.assert_close(emb(x), ref.transpose(1, 2), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(temporal_conv(x, emb.conv1), emb.conv1(x.transpose(1, 2)).transpose(1, 2))


def test_streams_and_background_equal_loop_form() -> None:
    model = _model("ecm", dropout=0.0).train()
    x = torch.randn(B, T, D)
    labels = _labels()
    out = model(x, labels)
    ref = _reference(model, x, labels)
    torch.testing.assert_close(out.cas, ref["cas"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.pre_logits, ref["pre"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.weights, ref["weights"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.post_logits, ref["post"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.background_logits, ref["q"], rtol=1e-5, atol=1e-5)


def test_paper_and_class_agnostic_background_forms() -> None:
    x = torch.randn(B, T, D)
    labels = _labels()
    model = _model("paper_background").train()
    out = model(x, labels)
    assert out.weights is not None and out.background_logits is not None
    for b in (0, 1):  # videos with a present class: q[c] scores Σ (1 − A_c) x with W[c]
        expected = _score_ref(model, x[b], 1 - out.weights[b])
        torch.testing.assert_close(out.background_logits[b], expected, rtol=1e-5, atol=1e-5)
    assert torch.all(out.background_logits[2] == 0)

    model = _model("class_agnostic_weights").train()
    out = model(x, labels)
    assert out.weights is not None and out.background_logits is not None and out.post_logits is not None
    w = model.classifier.weight
    for b in range(B):
        a = out.weights[b].expand(C, T)
        # class-agnostic: one aggregate per video, every class scores it with its own row
        h_post = _embed_ref(model, _fold_sums(x[b], a[:1])).mean(dim=2)  # (1, H)
        torch.testing.assert_close(out.post_logits[b], (h_post @ w.t())[0], rtol=1e-5, atol=1e-5)
        if b < 2:
            h_bg = _embed_ref(model, _fold_sums(x[b], (a * (1 - a))[:1])).mean(dim=2)
            torch.testing.assert_close(out.background_logits[b], (h_bg @ w.t())[0], rtol=1e-5, atol=1e-5)


def _fold_sums(x_td: Tensor, weights: Tensor) -> Tensor:
    """``(T, D)``, ``(R, T)`` → ``(R, D, 3)`` fold sums."""
    return torch.stack([weights[:, i::3] @ x_td[i::3] for i in range(3)], dim=2)


def _count_embedded(model: ECM, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of sequences of each call to ``E`` (filled as the model runs)."""
    seen: list[int] = []
    original = model.embedding.from_input_taps

    def spy(taps: Tensor, length: int | None = None, keep: Tensor | None = None) -> Tensor:
        seen.append(taps.shape[0])
        return original(taps, length, keep)

    monkeypatch.setattr(model.embedding, "from_input_taps", spy)
    return seen


def test_background_embeds_only_needed_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model().train()
    seen = _count_embedded(model, monkeypatch)
    model(torch.randn(B, T, D), _labels())
    pairs = int(_labels().sum())
    assert seen == [B, (B + pairs) * C]  # pre stream (B videos), then post + background sequences at once


def test_eval_skips_post_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("post stream ran in eval mode")

    monkeypatch.setattr("ecm.model.ecm.post_classification", fail)
    model = _model().eval()
    out = model(torch.randn(B, T, D), _labels())
    assert out.post_logits is None and out.background_logits is None


def test_training_without_labels_skips_background() -> None:
    out = _model().train()(torch.randn(B, T, D))
    assert out.post_logits is not None and out.background_logits is None


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_gradients_reach_every_parameter(variant: str) -> None:
    model = _model(variant, dropout=0.2).train()
    labels = _labels()
    out = model(torch.randn(B, T, D), labels)
    build_criterion(LossConfig(), variant)(out, labels)["total"].backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_no_nan_on_long_videos() -> None:
    torch.manual_seed(3)
    cfg = ModelConfig(hidden_dim=8, dropout=0.5)
    model = build_model(cfg, num_classes=3, feature_dim=8)
    x = torch.randn(2, 10_000, 8) + 1.0  # correlated features: large un-normalised sums
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    losses = build_criterion(LossConfig())(model(x, labels), labels)
    losses["total"].backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert torch.isfinite(out.cas).all() and torch.isfinite(out.video_logits).all()


def test_variant_names_and_combinations() -> None:
    assert parse_variant("ecm") == parse_variant("ecm")
    row5 = parse_variant("no_a2c+no_c2c")
    assert row5.weight_source == "transition" and not row5.a2c and not row5.c2c
    assert parse_variant("no_transition+no_a2c+no_c2c").weight_source == "attention"
    post_only = parse_variant("post_only")
    assert not post_only.pre_stream and post_only.class_agnostic and post_only.weight_source == "attention"
    for bad in ("nope", "pre_only+no_a2c", "no_a2c+no_a2c", "paper_background+no_a2c", "ecm+no_c2c"):
        with pytest.raises(InputError):
            parse_variant(bad)
    with pytest.raises(InputError):
        ModelConfig(variant="nope")


def test_separate_classifiers_has_its_own_post_classifier() -> None:
    model = _model("separate_classifiers")
    assert model.post_classifier is not None and model.post_classifier is not model.classifier
    assert _model("ecm").post_classifier is None


@pytest.mark.parametrize("folds", [1, 3])
@pytest.mark.parametrize("length", [1, 2, 4, 7])
def test_fold_major_shift_add_is_a_convolution(folds: int, length: int) -> None:
    conv = torch.nn.Conv1d(4, 3, kernel_size=3, padding=1).double()
    assert conv.bias is not None
    x = torch.randn(2, length, 4, dtype=torch.float64)
    taps = torch.einsum("nfjd,odk->nfjko", to_folds(x, folds), conv.weight.detach())  # (N, F, J, K, C)
    out = combine_fold_taps(taps, conv.bias.detach())[:, :length]
    expected = conv(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    taps.requires_grad_(True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(combine_fold_taps, (taps, bias))


@pytest.mark.parametrize("variant", ["ecm", "class_agnostic_weights", "paper_background"])
@pytest.mark.parametrize("length", [1, 2, 5])
def test_short_videos_and_unlabelled_batches_train(variant: str, length: int) -> None:
    model = _model(variant).train()
    for labels in (torch.zeros(B, C), _labels()):
        out = model(torch.randn(B, length, D), labels)
        losses = build_criterion(LossConfig(), variant)(out, labels)
        losses["total"].backward()
        assert all(torch.isfinite(v) for v in losses.values())


def test_bad_shapes_are_refused() -> None:
    model = _model()
    with pytest.raises(ValueError, match="features"):
        model(torch.randn(T, D))
    with pytest.raises(ValueError, match="labels"):
        model(torch.randn(B, T, D), torch.zeros(B, C + 1))


POST_VARIANTS = [v for v in ALL_VARIANTS if parse_variant(v).post_stream]


@pytest.mark.parametrize("variant", POST_VARIANTS)
@pytest.mark.parametrize("aggregation", ["sum", "mean"])
def test_post_stream_in_recomputed_blocks_equals_one_pass(variant: str, aggregation: str) -> None:
    """A memory bound (blocks of videos recomputed in the backward pass) changes nothing: the same
    outputs, dropout masks, random stream and gradients as one pass, in float64."""
    x = torch.randn(B, T, D, dtype=torch.float64)
    labels = _labels().double()
    results = []
    for budget in (None, 1e-9):  # 1e-9 MiB: one video per block
        torch.manual_seed(0)
        cfg = ModelConfig(
            variant=variant, hidden_dim=H, dropout=0.5, train_length=16, aggregation=aggregation
        )
        model = build_model(cfg, num_classes=C, feature_dim=D).double().train()
        model.post_memory_mib = budget  # type: ignore[assignment]
        torch.manual_seed(1)
        out = model(x, labels)
        after = torch.rand(3)  # the random stream must be left where one pass leaves it
        losses = build_criterion(LossConfig(), variant)(out, labels)
        losses["total"].backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results.append((out, after, losses, grads))
    (one, after_one, loss_one, grad_one), (blocks, after_blocks, loss_blocks, grad_blocks) = results
    assert torch.equal(after_one, after_blocks)
    for field in ("post_logits", "background_logits", "pre_logits"):
        a, b = getattr(one, field), getattr(blocks, field)
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for name in loss_one:
        torch.testing.assert_close(loss_one[name], loss_blocks[name], rtol=1e-12, atol=1e-12)
    assert grad_one.keys() == grad_blocks.keys() and grad_one
    for name in grad_one:
        torch.testing.assert_close(grad_one[name], grad_blocks[name], rtol=1e-10, atol=1e-12)


def test_blocks_are_used_past_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model().train()
    seen = _count_embedded(model, monkeypatch)
    model.post_memory_mib = 1e-9  # type: ignore[assignment]
    model(torch.randn(B, T, D), _labels())
    # pre stream, then per video its C action sequences and C per present class (1, 3, 0 classes)
    assert seen == [B, 2 * C, 4 * C, C]
