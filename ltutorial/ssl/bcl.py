"""BCL: memorization scores from a moving-average contrastive loss, and score-driven augmentation.

Zhou, Yao, Wang, Han, Zhang, "Contrastive Learning with Boosted Memorization", ICML 2022.
Samples that the network keeps failing to "memorize" (a high moving-average loss) are likely
tail samples; BCL gives them stronger, more frequent RandAugment operations, which boosts the
information discrepancy between their views. Everything here is a batch tensor operation on the
device (the reference code runs PIL RandAugment per image in DataLoader workers). Notebook 11.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice, check_positive_int, check_probability

__all__ = [
    "memorization_score",
    "ema_update",
    "BCLConfig",
    "BCLState",
    "RANDAUGMENT_OPS",
    "boosted_randaugment",
    "augmentation_strength",
]


def ema_update(ema: torch.Tensor, losses: torch.Tensor, beta: float = 0.97, initialized: torch.Tensor | None = None) -> torch.Tensor:
    """One step of BCL's moving average: m_t = beta m_{t-1} + (1 - beta) l_t, with m_1 = l_1.

    ``initialized`` (bool, same shape) marks entries that already hold a value; the others take
    the loss itself (the first observation). Returns the new tensor. Zhou et al., ICML 2022
    (beta = 0.97); notebook 11.
    """
    beta = check_probability(beta, name="beta")
    new = beta * ema + (1 - beta) * losses
    if initialized is not None:
        new = torch.where(initialized, new, losses)
    return new


def memorization_score(ema_losses) -> torch.Tensor:
    """BCL's memorization score M in [0, 1] from the per-sample moving-average losses.

    z_i = (m_i - mean(m)) / std(m), then M_i = z_i / (2 max_j |z_j|) + 1/2 (Zhou et al. 2022;
    ssl_lt.md section 4.1). The most extreme sample sits at exactly 0 or 1, the mean at 1/2, and
    M is increasing in m: a sample the model memorizes poorly (high loss, tail-like) scores
    high and gets stronger augmentation. Constant losses give 1/2 everywhere. Notebook 11.
    """
    m = torch.as_tensor(ema_losses).detach().float()
    if m.ndim != 1 or m.numel() == 0:
        raise ValueError(f"ema_losses must be a non-empty 1-D tensor of per-sample losses; got shape {tuple(m.shape)} instead.")
    if not bool(torch.isfinite(m).all()):
        raise ValueError("ema_losses must be finite; got NaN or infinite values instead.")
    std = m.std(unbiased=False) if m.numel() > 1 else torch.zeros((), device=m.device)
    if float(std) == 0.0:
        return torch.full_like(m, 0.5)
    z = (m - m.mean()) / std
    return z / (2 * z.abs().max()) + 0.5


def augmentation_strength(scores: torch.Tensor, k: int, generator: torch.Generator | None = None, max_magnitude: float = 30.0) -> torch.Tensor:
    """RandAugment magnitude per sample from its memorization score (0..``max_magnitude`` scale).

    k = 1: m = 10 + (30 - 10) M; k >= 2: m = 5 + (30 - 5) M u with u ~ U(0, 1) per sample. The
    floors (10, 5) are the reference code's, "for training stability" (ssl_lt.md section 4.2).
    """
    k = check_positive_int(k, name="k")
    if isinstance(max_magnitude, bool) or not isinstance(max_magnitude, (int, float)) or not max_magnitude >= 10:
        raise ValueError(f"max_magnitude must be a number >= 10 (the k = 1 floor); got {max_magnitude!r} instead.")
    if k == 1:
        return 10 + (max_magnitude - 10) * scores
    u = torch.rand(scores.shape, device=scores.device, generator=generator)
    return 5 + (max_magnitude - 5) * scores * u


# ---------------------------------------------------------------------- RandAugment as tensor ops
# Each op takes x (n x C x H x W floats in [0, 1]), level in [0, 1] (= magnitude / 30), a random
# sign in {-1, +1} and two uniforms (n x 2) for ops that need a position; all per sample.
_FILL = 0.5


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # Sampling x - fill with zero padding fills the uncovered area with the grey ``fill``.
    return F.grid_sample(x - _FILL, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + _FILL


def _eye(n, device):
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    return theta


def _shear_x(x, level, sign, pos):
    theta = _eye(x.shape[0], x.device)
    theta[:, 0, 1] = 0.6 * level * sign
    return _affine(x, theta)


def _shear_y(x, level, sign, pos):
    theta = _eye(x.shape[0], x.device)
    theta[:, 1, 0] = 0.6 * level * sign
    return _affine(x, theta)


def _translate_x(x, level, sign, pos):
    theta = _eye(x.shape[0], x.device)
    theta[:, 0, 2] = 2 * 0.66 * level * sign  # a fraction f of the side is 2f in grid units
    return _affine(x, theta)


def _translate_y(x, level, sign, pos):
    theta = _eye(x.shape[0], x.device)
    theta[:, 1, 2] = 2 * 0.66 * level * sign
    return _affine(x, theta)


def _rotate(x, level, sign, pos):
    angle = math.radians(60.0) * level * sign
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    return _affine(x, theta)


def _auto_contrast(x, level, sign, pos):
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (x - lo) / span.clamp_min(1e-8), x)


def _invert(x, level, sign, pos):
    return 1 - x


def _equalize(x, level, sign, pos):
    # Per image and channel: map each grey level through the normalised cumulative histogram.
    n, c, h, w = x.shape
    q = (x * 255).round().long().clamp(0, 255).view(n * c, h * w)
    hist = torch.zeros(n * c, 256, device=x.device).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float32))
    cdf = hist.cumsum(1)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float("inf"))).amin(1, keepdim=True)
    denom = (h * w - cdf_min).clamp_min(1)
    lut = ((cdf - cdf_min) / denom).clamp(0, 1)
    out = lut.gather(1, q).view(n, c, h, w)
    constant = (h * w - cdf_min).view(n, c, 1, 1) <= 0
    return torch.where(constant, x, out)


def _solarize(x, level, sign, pos):
    # Stronger = lower threshold: level 0 inverts nothing, level 1 inverts pixels above 146/255.
    thr = ((256 - 110 * level) / 255).view(-1, 1, 1, 1)
    return torch.where(x >= thr, 1 - x, x)


def _posterize(x, level, sign, pos):
    bits = (8 - torch.round(4 * level)).view(-1, 1, 1, 1)
    step = torch.pow(2.0, 8 - bits)
    return torch.floor(x * 255 / step) * step / 255


def _blend(x, other, factor):
    return (other + factor.view(-1, 1, 1, 1) * (x - other)).clamp(0, 1)


def _gray_of(x):
    if x.shape[1] != 3:
        return x
    w = torch.tensor((0.2989, 0.587, 0.114), device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _factor(level, sign):
    # Factors in [0.1, 1.9] centred on the identity: strength 0 leaves the image unchanged.
    return 1 + 0.9 * level * sign


def _contrast(x, level, sign, pos):
    return _blend(x, _gray_of(x).mean(dim=(1, 2, 3), keepdim=True), _factor(level, sign))


def _color(x, level, sign, pos):
    return _blend(x, _gray_of(x).expand_as(x), _factor(level, sign))


def _brightness(x, level, sign, pos):
    return _blend(x, torch.zeros_like(x), _factor(level, sign))


def _sharpness(x, level, sign, pos):
    c = x.shape[1]
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=x.device, dtype=x.dtype) / 13
    smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(c, 1, 3, 3), groups=c)
    return _blend(x, smooth, _factor(level, sign))


def _cutout(x, level, sign, pos):
    n, _, h, w = x.shape
    side = (0.4 * level * min(h, w)).view(-1, 1, 1)
    cy = (pos[:, 0] * h).view(-1, 1, 1)
    cx = (pos[:, 1] * w).view(-1, 1, 1)
    ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w) + 0.5
    box = ((ys - cy).abs() <= side / 2) & ((xs - cx).abs() <= side / 2)
    return torch.where(box[:, None], torch.full_like(x, _FILL), x)


RANDAUGMENT_OPS = {
    "shear_x": _shear_x,
    "shear_y": _shear_y,
    "translate_x": _translate_x,
    "translate_y": _translate_y,
    "rotate": _rotate,
    "auto_contrast": _auto_contrast,
    "invert": _invert,
    "equalize": _equalize,
    "solarize": _solarize,
    "posterize": _posterize,
    "contrast": _contrast,
    "color": _color,
    "brightness": _brightness,
    "sharpness": _sharpness,
    "cutout": _cutout,
}
_OP_LIST = tuple(RANDAUGMENT_OPS.values())


def boosted_randaugment(
    x: torch.Tensor,
    scores: torch.Tensor,
    *,
    k: int = 1,
    probability: torch.Tensor | float | None = None,
    generator: torch.Generator | None = None,
    max_magnitude: float = 30.0,
) -> torch.Tensor:
    """BCL's per-sample RandAugment on a float batch in [0, 1] (after the SimCLR augmentation).

    k rounds; in each, every sample draws one of the 15 operations of ``RANDAUGMENT_OPS``
    uniformly and applies it with probability p_i (default: its memorization score M_i) at
    level m_i / 30, m_i from :func:`augmentation_strength`; geometric ops and the factor ops flip
    their sign at random. Samples are grouped by operation (one tensor op per group, no loop over
    samples). Deviations from the PIL reference, chosen so that "strength 0 = no change":
    brightness/contrast/colour/sharpness factors are 1 +- 0.9 level (the reference maps
    0..30 to 0.1..1.9), solarize's threshold falls from 256 to 146 as the level rises, and fills
    are grey. Posterize keeps 8 - 4 level bits, so it strengthens with the level like every other
    op; the official code keeps 4 + 4 level bits, which makes it milder for the least-memorised
    images, against BCL's idea (stronger augmentation where M is high), so we do not copy that
    direction. Both views use the same scores and independent draws (ssl_lt.md section 4.2).
    Notebook 11.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 4:
        raise ValueError(f"x must be a float tensor N x C x H x W in [0, 1]; got {getattr(x, 'dtype', type(x).__name__)} instead.")
    n = x.shape[0]
    scores = torch.as_tensor(scores, dtype=x.dtype, device=x.device).flatten()
    if scores.numel() != n:
        raise ValueError(f"scores must hold one value per image ({n}); got {scores.numel()} instead.")
    if not bool(((scores >= 0) & (scores <= 1)).all()):
        raise ValueError(f"scores must be memorization scores in [0, 1]; got values from {float(scores.min())} to {float(scores.max())} instead.")
    k = check_positive_int(k, name="k")
    if probability is None:
        p = scores
    elif isinstance(probability, torch.Tensor):
        p = probability.to(x.device, x.dtype).flatten()
        if p.numel() not in (1, n) or not bool(((p >= 0) & (p <= 1)).all()):
            raise ValueError(f"probability must be one value or one per image ({n}), each in [0, 1]; got {p.numel()} values instead.")
        p = p.expand(n)
    else:
        p = torch.full((n,), check_probability(probability, name="probability"), device=x.device, dtype=x.dtype)
    dev = x.device
    x = x.clone()
    for _ in range(k):
        op = torch.randint(0, len(_OP_LIST), (n,), device=dev, generator=generator)
        u = torch.rand(n, 4, device=dev, generator=generator)
        apply = u[:, 0] < p
        level = (augmentation_strength(scores, k, generator, max_magnitude) / max_magnitude).clamp(0, 1)
        sign = torch.where(u[:, 1] < 0.5, -1.0, 1.0).to(x.dtype)
        pos = u[:, 2:]
        for j, fn in enumerate(_OP_LIST):
            idx = torch.nonzero(apply & (op == j)).flatten()
            if idx.numel() == 0:
                continue
            x[idx] = fn(x[idx], level[idx], sign[idx], pos[idx]).clamp(0, 1)
    return x


@dataclass
class BCLConfig:
    """BCL's settings: ``beta`` 0.97 (EMA), ``k`` operations per view (1 for BCL-I on SimCLR, 2 for
    BCL-D on SDCLR), ``max_magnitude`` 30, ``probability`` None = the memorization score."""

    beta: float = 0.97
    k: int = 1
    max_magnitude: float = 30.0
    probability: float | None = None

    def __post_init__(self):
        # Checked here so a bad setting fails before training, not at the first step.
        self.beta = check_probability(self.beta, name="beta")
        self.k = check_positive_int(self.k, name="k")
        if isinstance(self.max_magnitude, bool) or not isinstance(self.max_magnitude, (int, float)) or not self.max_magnitude >= 10:
            raise ValueError(f"max_magnitude must be a number >= 10 (the k = 1 floor); got {self.max_magnitude!r} instead.")
        if self.probability is not None:
            self.probability = check_probability(self.probability, name="probability")


class BCLState:
    """Per-sample moving-average losses over the training set and the memorization scores.

    ``update(index, losses)`` folds one batch's per-image losses into the EMA (the first
    observation initialises it); ``end_of_epoch()`` recomputes the scores over the samples seen so
    far (unseen samples keep 0, as before BCL's first update) and keeps a CPU copy per epoch in
    ``score_history`` (rows: epochs) and ``loss_history``.
    """

    def __init__(self, num_samples: int, config: BCLConfig, device):
        self.config = config
        self.ema = torch.zeros(num_samples, device=device)
        self.seen = torch.zeros(num_samples, dtype=torch.bool, device=device)
        self.scores = torch.zeros(num_samples, device=device)
        self.score_history: list[torch.Tensor] = []
        self.loss_history: list[torch.Tensor] = []

    def update(self, index: torch.Tensor, losses: torch.Tensor) -> None:
        losses = losses.detach().float()
        self.ema[index] = ema_update(self.ema[index], losses, self.config.beta, self.seen[index])
        self.seen[index] = True

    def end_of_epoch(self) -> None:
        scores = torch.zeros_like(self.ema)
        if bool(self.seen.any()):
            scores[self.seen] = memorization_score(self.ema[self.seen])
        self.scores = scores
        self.score_history.append(scores.cpu())
        self.loss_history.append(self.ema.cpu())

    def augment(self, x: torch.Tensor, index: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return boosted_randaugment(
            x,
            self.scores[index],
            k=self.config.k,
            probability=self.config.probability,
            generator=generator,
            max_magnitude=self.config.max_magnitude,
        )


def pretrain_bcl(encoder, data, *, base: str = "simclr", bcl: BCLConfig | None = None, **kwargs):
    """BCL pre-training: :func:`ltutorial.ssl.pretrain` with ``method="bcl"`` (BCL-I, on SimCLR,
    k = 1) or, with ``base="sdclr"``, ``"bcl-d"`` (BCL-D, on SDCLR, k = 2); weight decay 5e-4 for
    BCL-I and 1e-4 for BCL-D in the paper (ssl_lt.md section 4.3).
    Notebook 11.
    """
    from ltutorial.ssl.simclr import pretrain

    bases = {"simclr": "bcl", "sdclr": "bcl-d"}
    check_choice(base, list(bases), name="base")
    return pretrain(encoder, data, method=bases[base], bcl=bcl, **kwargs)
