"""Re-sampling in torch as imbalanced-learn samplers (notebook 02): numpy, pandas, lists or tensors in, same out."""

from ltutorial.sampling.combine import SMOTEUnderSampler, make_smote_under
from ltutorial.sampling.compare import SamplerComparison, compare_samplers
from ltutorial.sampling.random_sampling import RandomOverSampler, RandomUnderSampler
from ltutorial.sampling.smote import SMOTE

__all__ = ["SMOTE", "RandomOverSampler", "RandomUnderSampler", "SMOTEUnderSampler", "make_smote_under",
           "compare_samplers", "SamplerComparison"]
