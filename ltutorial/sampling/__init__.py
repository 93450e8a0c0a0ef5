"""Re-sampling for class imbalance, in torch: SMOTE, random over/under-sampling, SMOTE + under-sampling.

scikit-learn estimators and imbalanced-learn samplers (built on imbalanced-learn's base classes and
its ``check_sampling_strategy``: clone, get/set_params, ``imblearn.pipeline.Pipeline``,
``GridSearchCV``), with the sampling itself in torch. numpy, pandas, lists or torch tensors in and
the same kind out (tensors on their device). Notebook 02 teaches it.
"""

from ltutorial._validation import check_choice
from ltutorial.sampling.combine import SMOTEUnderSampler, make_smote_under
from ltutorial.sampling.compare import SamplerComparison, compare_samplers
from ltutorial.sampling.random_sampling import RandomOverSampler, RandomUnderSampler
from ltutorial.sampling.neighbors import kneighbors
from ltutorial.sampling.smote import SMOTE
from ltutorial.sampling.strategy import STRATEGY_NAMES, check_sampling_strategy

SAMPLERS = {
    "smote": SMOTE,
    "random-over": RandomOverSampler,
    "random-under": RandomUnderSampler,
    "smote-under": SMOTEUnderSampler,
}


def build_sampler(name: str, **kwargs):
    """``SAMPLERS[name](**kwargs)``, with an error listing the valid names."""
    check_choice(name, list(SAMPLERS), name="sampler")
    return SAMPLERS[name](**kwargs)


__all__ = [
    "SMOTE",
    "RandomOverSampler",
    "RandomUnderSampler",
    "SMOTEUnderSampler",
    "make_smote_under",
    "check_sampling_strategy",
    "kneighbors",
    "SAMPLERS",
    "STRATEGY_NAMES",
    "build_sampler",
    "compare_samplers",
    "SamplerComparison",
]
