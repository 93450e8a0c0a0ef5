"""Self-supervised learning on long-tailed data: SimCLR, SDCLR, BCL and Geometric Harmonization.

The tutorial's last part (notebooks 10-12): is contrastive pre-training robust to imbalance
(SDCLR's D_i vs D_b table), and three methods that make it more so - SDCLR (a pruned
self-competitor), BCL (memorization-driven augmentation) and GH (class-level uniformity on a
simplex ETF). Every step runs as batched tensor operations on the device, augmentation included.

Modules: ``augment`` (ContrastiveAugment, TwoViews), ``losses`` (nt_xent), ``simclr`` (SimCLR,
pretrain, linear_probe), ``sdclr``, ``bcl``, ``gh``, ``subsets`` (ssl_subsets), ``experiment`` (the
notebooks' shared settings: ssl_settings, make_encoder, ssl_experiment_data), ``report`` (the
random-weights baseline and noise margins the notebooks read their probes with), ``toys`` (small
computed models of the slides' claims).
"""

from ltutorial.ssl.augment import ContrastiveAugment, TwoViews, resize_dataset, resize_images
from ltutorial.ssl.bcl import BCLConfig, BCLState, boosted_randaugment, memorization_score, pretrain_bcl
from ltutorial.ssl.gh import GHConfig, GHState, gh_loss, gh_weight, simplex_etf, sinkhorn
from ltutorial.ssl.losses import nt_xent, nt_xent_per_anchor, nt_xent_per_sample
from ltutorial.ssl.sdclr import PrunedBranch, magnitude_prune_masks, mask_sparsity, pretrain_sdclr, pruned_forward, pruning_sensitivity
from ltutorial.ssl.simclr import (
    METHODS,
    ProjectionHead,
    SimCLR,
    SSLHistory,
    class_geometry,
    cosine_warmup_lr,
    extract_features,
    linear_probe,
    pretrain,
    pretrain_simclr,
    probe_table,
)
from ltutorial.ssl.subsets import load_ssl_data, ssl_subsets
from ltutorial.ssl.experiment import SSL_PROFILES, SSLSettings, make_encoder, ssl_experiment_data, ssl_settings
from ltutorial.ssl.report import accuracy_margin, compare_with_random, group_difference, random_encoder_probe
from ltutorial.ssl import toys

__all__ = [
    "ContrastiveAugment", "TwoViews", "resize_dataset", "resize_images",
    "BCLConfig", "BCLState", "boosted_randaugment", "memorization_score", "pretrain_bcl",
    "GHConfig", "GHState", "gh_loss", "gh_weight", "simplex_etf", "sinkhorn",
    "nt_xent", "nt_xent_per_anchor", "nt_xent_per_sample",
    "PrunedBranch", "magnitude_prune_masks", "mask_sparsity", "pretrain_sdclr", "pruned_forward", "pruning_sensitivity",
    "METHODS", "ProjectionHead", "SimCLR", "SSLHistory", "class_geometry", "cosine_warmup_lr", "extract_features",
    "linear_probe", "pretrain", "pretrain_simclr", "probe_table",
    "ssl_subsets", "load_ssl_data",
    "SSL_PROFILES", "SSLSettings", "ssl_settings", "make_encoder", "ssl_experiment_data",
    "accuracy_margin", "compare_with_random", "group_difference", "random_encoder_probe", "toys",
]
