"""The ECM network: shared embedding and classifier, the two streams, the weight transition, variants.

``build_model(ModelConfig(...), num_classes, feature_dim)`` returns an :class:`ECM` whose
``forward(features (B, T, D), labels (B, C) | None)`` returns a :class:`ModelOutput`.
"""

from ecm.model.classifier import Classifier, SnippetEmbedding
from ecm.model.ecm import ECM, AttentionNetwork, ModelConfig, ModelOutput, WeightTransition, build_model
from ecm.model.variants import VARIANTS, VariantSpec, parse_variant

__all__ = [
    "ECM",
    "VARIANTS",
    "AttentionNetwork",
    "Classifier",
    "ModelConfig",
    "ModelOutput",
    "SnippetEmbedding",
    "VariantSpec",
    "WeightTransition",
    "build_model",
    "parse_variant",
]
