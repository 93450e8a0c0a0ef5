"""Classic (pre-deep) imbalance methods: COG local decomposition (notebook 04), the balanced-accuracy plug-in (05)."""

from ltutorial.classic.cog import COG
from ltutorial.classic.kmeans import KMeansResult, kmeans
from ltutorial.classic.plugin import (REGRET_METHODS, PlugInClassifier, WeightedERMClassifier, balanced_accuracy_regret,
                                     linear_rule_balanced_accuracy)

__all__ = ["COG", "kmeans", "KMeansResult", "PlugInClassifier", "WeightedERMClassifier", "balanced_accuracy_regret",
           "linear_rule_balanced_accuracy", "REGRET_METHODS"]
