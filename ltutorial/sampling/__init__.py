"""Re-sampling for class imbalance in torch, as imbalanced-learn samplers: SMOTE, random over/under-sampling.

numpy, pandas, lists or torch tensors in, the same kind out (tensors on their device). Notebook 02.
"""

from ltutorial.sampling.combine import SMOTEUnderSampler, make_smote_under
from ltutorial.sampling.compare import SamplerComparison, compare_samplers
from ltutorial.sampling.random_sampling import RandomOverSampler, RandomUnderSampler
from ltutorial.sampling.smote import SMOTE

__all__ = ["SMOTE", "RandomOverSampler", "RandomUnderSampler", "SMOTEUnderSampler", "make_smote_under",
           "compare_samplers", "SamplerComparison"]
