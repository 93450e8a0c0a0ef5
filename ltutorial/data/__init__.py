"""Data for the tutorial: long-tailed CIFAR-10/100, digits-lt, the large benchmarks and 2-D synthetic data;
``load_dataset(name)``: (long-tailed train, balanced test) (docs/ARCHITECTURE.md)."""

from ltutorial.data.cifar import find_cifar_root
from ltutorial.data.images import ImageDataset, channel_mean_std, short_source
from ltutorial.data.large_lt import LARGE_LT, LargeLTDataset, load_large_lt
from ltutorial.data.longtail import longtail_counts, longtail_indices
from ltutorial.data.prepare import (DATASETS, downsample, load_dataset, prepare_experiment, resolve_dataset,
                                   stratified_subset)
from ltutorial.data.synthetic import (GaussianBinaryProblem, make_gaussian_mixture, make_imbalanced_gaussians,
                                      make_multimodal_rare)

__all__ = ["DATASETS", "GaussianBinaryProblem", "ImageDataset", "LARGE_LT", "LargeLTDataset", "channel_mean_std",
           "downsample", "find_cifar_root", "load_dataset", "load_large_lt", "longtail_counts", "longtail_indices",
           "make_gaussian_mixture", "make_imbalanced_gaussians", "make_multimodal_rare", "prepare_experiment",
           "resolve_dataset", "short_source", "stratified_subset"]
