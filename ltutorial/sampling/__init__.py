"""SMOTE and random over/under-sampling in torch as imbalanced-learn samplers, any input kind kept (notebook 02)."""

from ltutorial.sampling.base import check_sampling_strategy
from ltutorial.sampling.combine import SMOTEUnderSampler, make_smote_under
from ltutorial.sampling.compare import SamplerComparison, compare_samplers
from ltutorial.sampling.neighbors import kneighbors
from ltutorial.sampling.random_sampling import RandomOverSampler, RandomUnderSampler
from ltutorial.sampling.smote import SMOTE

__all__ = ["SMOTE", "RandomOverSampler", "RandomUnderSampler", "SMOTEUnderSampler", "make_smote_under",
           "check_sampling_strategy", "kneighbors", "compare_samplers", "SamplerComparison"]
