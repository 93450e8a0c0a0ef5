"""The NT-Xent (InfoNCE) loss of SimCLR, batch mean and per-sample forms.

Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations" (ICML 2020),
with the long-tail papers' settings (tau = 0.2; SDCLR, BCL, GH). Used by notebooks 10-12.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice

__all__ = ["nt_xent", "nt_xent_per_anchor", "nt_xent_per_sample"]


def _check_pair(z1, z2, temperature) -> float:
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, torch.Tensor) or z.ndim != 2:
            raise ValueError(f"{name} must be a 2-D tensor (N x d projections); got {getattr(z, 'shape', type(z).__name__)} instead.")
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape (one row per image, one view each); got {tuple(z1.shape)} and {tuple(z2.shape)} instead.")
    if z1.shape[0] < 2:
        raise ValueError(f"z1 must hold at least 2 images so every anchor has a negative; got {z1.shape[0]} instead.")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0; got {temperature!r} instead.")
    return float(temperature)


def nt_xent_per_anchor(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Per-anchor NT-Xent over the 2N views, a tensor of length 2N (views of z1 first).

    With z = normalize([z1; z2]) and s_ij = z_i . z_j / tau, anchor i's positive p(i) is the
    other view of the same image and every other view is a negative (the anchor itself excluded):
    l_i = -log( exp(s_ip) / sum_{j != i} exp(s_ij) ). Computed in float32 (bf16 logits lose the
    small differences the softmax needs) as a cross-entropy over the similarity rows with the
    diagonal masked out. Chen et al., ICML 2020; notebooks 10-12.
    """
    tau = _check_pair(z1, z2, temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0).float(), dim=1)
    sim = (z @ z.T) / tau
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.arange(2 * n, device=z.device).add_(n).remainder_(2 * n)  # i <-> i + N
    return F.cross_entropy(sim, targets, reduction="none")


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's NT-Xent loss: the mean of :func:`nt_xent_per_anchor` over the 2N anchors.

    Random unit vectors give about log(2N - 1); a perfect pairing with well-spread negatives
    approaches 0. SDCLR feeds the dense branch's projections as ``z1`` and the pruned branch's as
    ``z2``, so the negatives include dense-dense and pruned-pruned pairs (Jiang et al. 2021).
    Chen et al., ICML 2020, with tau = 0.2 as in the long-tail papers; notebooks 10-12.
    """
    return nt_xent_per_anchor(z1, z2, temperature).mean()


_REDUCE = ("sample", "anchor")


def nt_xent_per_sample(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2, *, per: str = "sample") -> torch.Tensor:
    """Per-image NT-Xent: the mean of an image's two anchor losses (length N), or the 2N anchors.

    ``per="sample"`` gives l(i) = (l_i + l_{i+N}) / 2, the quantity BCL's moving average tracks
    (Zhou et al., ICML 2022; notebook 11). ``per="anchor"`` returns :func:`nt_xent_per_anchor`.
    """
    check_choice(per, list(_REDUCE), name="per")
    anchors = nt_xent_per_anchor(z1, z2, temperature)
    if per == "anchor":
        return anchors
    n = z1.shape[0]
    return 0.5 * (anchors[:n] + anchors[n:])
