"""Long-tailed losses ``loss(logits, targets)`` and epoch hooks ``hook(state)`` (DRW, TLA + ADRW). Notebooks 06-09."""

from ltutorial.losses._common import CrossEntropyLoss
from ltutorial.losses.class_balanced import (ClassBalancedLoss, FocalLoss, class_balanced_weights,
                                             effective_number, init_sigmoid_bias)
from ltutorial.losses.ldam import DeferredReweighting, LDAMLoss, ldam_margins
from ltutorial.losses.logit_adjusted import LogitAdjustedLoss
from ltutorial.losses.vs import TLAADRW, VSLoss, adrw_weights, vs_scales

__all__ = ["CrossEntropyLoss", "FocalLoss", "ClassBalancedLoss", "LDAMLoss", "LogitAdjustedLoss", "VSLoss",
           "DeferredReweighting", "TLAADRW", "effective_number", "class_balanced_weights", "ldam_margins", "vs_scales",
           "adrw_weights", "init_sigmoid_bias"]
