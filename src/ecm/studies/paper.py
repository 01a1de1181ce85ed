"""The paper's ablation rows (Tables 4, 5 and 9, frame accuracy from Table 10) and the variants that reproduce them.

Numbers are THUMOS14 with I3D features, mAP@0.5 of the best epoch on the test split, in percent.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecm.studies.fusion import CONCAT, FUSION_WEIGHTS, weighted_sum_name


@dataclass(frozen=True)
class PaperRow:
    """A row of the paper's ablation tables and what reproduces it (numbers: THUMOS14, percent).

    Attributes:
        key: the model variant (``ecm.model.variants``) or ``fusion:<method>`` of ``pre_only`` + ``post_only``.
        title: the paper's description.
        map50: published mAP@0.5 (best epoch on test), or ``None`` where we have no published number.
        frame_accuracy: published frame accuracy (paper Table 10), if any.
    """

    key: str
    title: str
    map50: float | None
    frame_accuracy: float | None = None


# Paper Tables 4 and 5, in the paper's order, each mapped to the variant that expresses it
# (see ecm.model.variants). The paper's "two separate classifiers, results concatenated + NMS" row is no
# single model: it is the concatenation fusion of a pre_only and a post_only run (PAPER_FUSIONS), placed
# after post_only. Frame accuracy: paper Table 10.
PAPER_VARIANTS: tuple[PaperRow, ...] = (
    PaperRow("pre_only", "pre-classification stream only (top-k MIL)", 19.6, 42.7),
    PaperRow("post_only", "post-classification stream only, class-agnostic attention", 17.1, 39.0),
    PaperRow("no_transition+no_a2c+no_c2c", "shared classifier, learned attention", 21.6),
    PaperRow("no_a2c+no_c2c", "shared classifier + weight transition", 22.8),
    PaperRow("no_c2c", "shared classifier + weight transition + L_a2c", 24.2),
    PaperRow("separate_classifiers", "full ECM without classifier sharing", 23.4),
    PaperRow("class_agnostic_weights", "full ECM, class-agnostic aggregation weights", 27.6),
    PaperRow("ecm", "full ECM", 29.1, 54.3),
)
# Supplement Table 9: the weighted-sum numbers were not available to us, so they stay empty.
PAPER_FUSIONS: tuple[PaperRow, ...] = (
    PaperRow(f"fusion:{CONCAT}", "two separate classifiers, detections concatenated + NMS", 21.4),
    *(
        PaperRow(
            f"fusion:{weighted_sum_name(w)}", f"two separate classifiers, weighted-sum CAS, λ = {w:g}", None
        )
        for w in FUSION_WEIGHTS
    ),
)
