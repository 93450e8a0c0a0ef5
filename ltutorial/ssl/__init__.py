"""Self-supervised learning on long-tailed data (notebooks 10-12): one loop ``pretrain(encoder, data, method)``
for the methods ``SimCLR()``, ``SDCLR(prune_ratio)``, ``BCL(base)``, ``GH(base, GHConfig(...))``; ``linear_probe``."""

from ltutorial.ssl import toys
from ltutorial.ssl.augment import ContrastiveAugment, resize_images
from ltutorial.ssl.bcl import BCL, boosted_randaugment, memorization_score
from ltutorial.ssl.experiment import (SSLSettings, accuracy_margin, class_geometry, compare_with_random,
                                     group_difference, make_encoder, probe_table, random_encoder_probe,
                                     ssl_experiment_data, ssl_settings, ssl_subsets)
from ltutorial.ssl.gh import GH, GHConfig, gh_loss, simplex_etf, sinkhorn
from ltutorial.ssl.sdclr import (SDCLR, PrunedBranch, magnitude_prune_masks, mask_sparsity, pruned_forward,
                                 pruning_sensitivity)
from ltutorial.ssl.simclr import (PretrainConfig, SimCLR, SimCLRNet, linear_probe, nt_xent,
                                  nt_xent_per_anchor, nt_xent_per_sample, pretrain)

__all__ = [
    "pretrain", "PretrainConfig", "SimCLR", "SDCLR", "BCL", "GH", "GHConfig", "SimCLRNet",
    "nt_xent", "nt_xent_per_anchor", "nt_xent_per_sample", "linear_probe", "ContrastiveAugment",
    "resize_images", "boosted_randaugment", "memorization_score", "gh_loss",
    "simplex_etf", "sinkhorn", "PrunedBranch", "magnitude_prune_masks", "mask_sparsity", "pruned_forward",
    "pruning_sensitivity", "SSLSettings", "make_encoder", "ssl_experiment_data", "ssl_settings", "ssl_subsets",
    "accuracy_margin", "class_geometry", "compare_with_random", "group_difference", "probe_table",
    "random_encoder_probe", "toys",
]
