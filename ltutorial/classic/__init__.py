"""Classic (pre-deep) imbalance methods: COG local decomposition, the balanced-accuracy plug-in rule.

Notebooks 04 (COG) and 05 (balanced-accuracy consistency) use this sub-package.
"""

from ltutorial.classic.cog import COG
from ltutorial.classic.consistency import REGRET_METHODS, balanced_accuracy_regret, linear_rule_balanced_accuracy
from ltutorial.classic.kmeans import KMeansResult, kmeans
from ltutorial.classic.plugin import THRESHOLDS, PlugInClassifier, WeightedERMClassifier

__all__ = [
    "COG",
    "kmeans",
    "KMeansResult",
    "PlugInClassifier",
    "WeightedERMClassifier",
    "THRESHOLDS",
    "balanced_accuracy_regret",
    "linear_rule_balanced_accuracy",
    "REGRET_METHODS",
]
