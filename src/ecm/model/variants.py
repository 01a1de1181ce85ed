"""The paper's ablation variants (Tables 4 and 5) as configuration: one name → one :class:`VariantSpec`.

A variant string is a name, or several modifiers joined with ``+`` (applied to full ECM in order):

==========================  =====================================================================
name                        meaning
==========================  =====================================================================
``ecm``                     full ECM (default): shared classifier, weight transition, L_c2c, L_a2c
``pre_only``                pre-classification stream only (top-k MIL); loss L_pre
``post_only``               post-classification stream only, with its own attention network
                            (D)-H-H-[1] giving class-agnostic weights; loss L_post
``separate_classifiers``    the post stream (and its background branch) scores with its own classifier
``no_transition``           aggregation weights from a learned attention network on the raw features
                            (D)-H-H-[C] instead of the weight transition of the CAS
``class_agnostic_weights``  one aggregation weight per snippet (transition Conv(C→1) or attention [1])
``paper_background``        background feature f^b_c = Σ_t (1 − A_c(t)) x_t (the paper's form) instead of
                            the implementation's Σ_t A_c(t)(1 − A_g(t)) x_t
``no_a2c``                  drop L_a2c (the background branch is then not computed)
``no_c2c``                  drop L_c2c
==========================  =====================================================================

Rows of the paper's Tables 4 and 5: pre only = ``pre_only``; post only = ``post_only``; two separate
classifiers, results concatenated + NMS = the detections of a ``pre_only`` run and a ``post_only`` run
merged by the ablation layer (two separately trained pipelines; no single model); shared classifier,
learned attention = ``no_transition+no_a2c+no_c2c``; shared classifier + weight transition =
``no_a2c+no_c2c``; + L_a2c = ``no_c2c``; full ECM without classifier sharing = ``separate_classifiers``;
class-agnostic aggregation weights = ``class_agnostic_weights``; full ECM = ``ecm``.

No torch here: the configuration layer validates variant names without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ecm.errors import InputError

__all__ = ["MODIFIERS", "STANDALONE", "VARIANTS", "VariantSpec", "parse_variant"]

# Names that must stand alone.
STANDALONE: tuple[str, ...] = ("ecm", "pre_only", "post_only")
# Names that combine with each other ("no_transition+no_a2c").
MODIFIERS: tuple[str, ...] = (
    "separate_classifiers",
    "no_transition",
    "no_a2c",
    "no_c2c",
    "class_agnostic_weights",
    "paper_background",
)
VARIANTS: tuple[str, ...] = STANDALONE + MODIFIERS


@dataclass(frozen=True)
class VariantSpec:
    """What a variant switches on or off (full ECM by default)."""

    # The pre-classification stream (CAS → top-k) feeds a loss.
    pre_stream: bool = True
    # The post-classification stream (aggregate → E → class-specific scoring) runs in training.
    post_stream: bool = True
    # Both streams score with the same classifier W (else the post stream has its own).
    shared_classifier: bool = True
    # Where the aggregation weights A come from: the weight transition of the CAS, or an attention network.
    weight_source: Literal["transition", "attention"] = "transition"
    # One weight per snippet shared by all classes (B, 1, T) instead of one per class (B, C, T).
    class_agnostic: bool = False
    # Background feature: "implementation" Σ A_c(1 − A_g) x (per present g), or "paper" Σ (1 − A_c) x.
    background: Literal["implementation", "paper"] = "implementation"
    # L_c2c (pre/post logit consistency) is in the loss.
    c2c: bool = True
    # L_a2c (action/background aggregation consistency) is in the loss; the model computes the background
    # branch only when this is on.
    a2c: bool = True


_POST_ONLY = VariantSpec(
    pre_stream=False, weight_source="attention", class_agnostic=True, c2c=False, a2c=False
)
_PRE_ONLY = VariantSpec(post_stream=False, c2c=False, a2c=False)


def parse_variant(name: str) -> VariantSpec:
    """Resolve a variant string (``"ecm"``, ``"pre_only"``, ``"no_transition+no_a2c+no_c2c"``, …).

    Raises:
        InputError: unknown name, a stand-alone name combined with others, a repeated modifier, or a
            combination in which a modifier has no effect (``paper_background+no_a2c``).
    """
    parts = [part.strip() for part in name.split("+")]
    for part in parts:
        if part not in VARIANTS:
            raise InputError(None, f"unknown model variant {part!r}; choose from {', '.join(VARIANTS)}")
    if len(parts) > 1:
        lone = [p for p in parts if p in STANDALONE]
        if lone:
            raise InputError(None, f"model variant {lone[0]!r} cannot be combined with others (got {name!r})")
        if len(set(parts)) != len(parts):
            raise InputError(None, f"model variant {name!r} repeats a modifier")
    if parts == ["pre_only"]:
        return _PRE_ONLY
    if parts == ["post_only"]:
        return _POST_ONLY
    spec = VariantSpec()
    for part in parts:
        if part == "separate_classifiers":
            spec = replace(spec, shared_classifier=False)
        elif part == "no_transition":
            spec = replace(spec, weight_source="attention")
        elif part == "no_a2c":
            spec = replace(spec, a2c=False)
        elif part == "no_c2c":
            spec = replace(spec, c2c=False)
        elif part == "class_agnostic_weights":
            spec = replace(spec, class_agnostic=True)
        elif part == "paper_background":
            spec = replace(spec, background="paper")
    if spec.background == "paper" and not spec.a2c:
        raise InputError(None, f"model variant {name!r}: paper_background has no effect without L_a2c")
    return spec
