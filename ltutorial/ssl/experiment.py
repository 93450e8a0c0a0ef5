"""The shared run settings of the self-supervised notebooks 10-12: sizes per profile, encoder, data.

Notebooks 10 (SDCLR), 11 (BCL) and 12 (GH) pre-train the same kind of encoder on the same
D_i / D_b subsets (:func:`ltutorial.ssl.subsets.ssl_subsets`) and probe it the same way; only
the method differs. This module holds what they share, so the three derived-settings cells read
``settings = lt.ssl.ssl_settings(PROFILE, dataset=DATASET, seed=SEED, epochs=EPOCHS, ...)``:

- :data:`SSL_PROFILES`, the one table of sizes per profile (smoke: CI, cpu: a laptop, full: the
  papers' ResNet-18 recipe at 300 pre-training epochs, batch 512, projection dim 128);
- :func:`ssl_settings` resolving a profile plus the notebook's ``None``-means-default knobs into
  an :class:`SSLSettings`;
- :func:`make_encoder` (the backbone a method pre-trains) and :func:`ssl_experiment_data` (the
  pre-training subsets, the probe's labelled set and the test set).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ltutorial._validation import check_positive_int
from ltutorial.profiles import PROFILES

__all__ = ["SSL_PROFILES", "SSLSettings", "ssl_settings", "make_encoder", "ssl_experiment_data"]

# One row per profile. The cpu profile pre-trains a SmallCNN on CIFAR shrunk to 16x16 with 600
# images in D_i's largest class, so a contrastive run fits a laptop's minutes; full is the papers'
# setting (ResNet-18, the whole 4,500-per-class pool, 500 held-out images per class, full test set).
SSL_PROFILES: dict[str, dict] = {
    "smoke": dict(epochs=2, encoder="small_cnn", width=8, n_max=200, image_size=16, batch_size=64, proj_dim=32,
                  warmup_epochs=1, probe_epochs=20, val_per_class=50, test_per_class=50),
    "cpu": dict(epochs=15, encoder="small_cnn", width=32, n_max=600, image_size=16, batch_size=128, proj_dim=64,
                warmup_epochs=1, probe_epochs=50, val_per_class=100, test_per_class=200),
    "full": dict(epochs=300, encoder="resnet18_cifar", width=None, n_max=None, image_size=None, batch_size=512,
                 proj_dim=128, warmup_epochs=10, probe_epochs=200, val_per_class=500, test_per_class=None),
}

# digits-lt keeps 124 training digits per class at imbalance ratio 1: 24 held out for the probe
# leaves a pool of 100, and the 8x8 images are used at their native size.
_DIGITS_VAL_PER_CLASS = 24
_DIGITS_POOL = 100

# Knobs whose profile value may be None ("not used / native / all"), e.g. width for ResNet-18.
_OPTIONAL = ("width", "n_max", "image_size", "test_per_class")


@dataclass(frozen=True)
class SSLSettings:
    """Resolved settings of one SSL notebook run (see :func:`ssl_settings`); notebooks 10-12."""

    profile: str
    dataset: str
    seed: int
    epochs: int
    encoder: str
    width: int | None
    n_max: int | None
    image_size: int | None
    batch_size: int
    proj_dim: int
    warmup_epochs: int
    probe_epochs: int
    val_per_class: int | None
    test_per_class: int | None
    lr: float = 0.5

    @property
    def digits(self) -> bool:
        """True for digits-lt (1 channel, 8x8 images)."""
        return self.dataset == "digits-lt"

    @property
    def in_channels(self) -> int:
        return 1 if self.digits else 3

    def train_kwargs(self, device, *, weight_decay: float) -> dict:
        """Keyword arguments for ``pretrain_simclr`` / ``pretrain_sdclr`` / ``pretrain_bcl``.

        ``weight_decay`` is the method's own (SDCLR 1e-4, BCL and GH 5e-4), so it has no default.
        """
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ValueError(f"weight_decay must be a number >= 0; got {weight_decay!r} instead.")
        return dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, warmup_epochs=self.warmup_epochs,
                    proj_dim=self.proj_dim, device=device, seed=self.seed, weight_decay=weight_decay)

    def summary(self) -> str:
        """One line: dataset, encoder, epochs, batch, n_max and image size."""
        return (f"{self.dataset}: {self.encoder}, {self.epochs} epochs, batch {self.batch_size}, "
                f"n_max {self.n_max}, image size {self.image_size or 'native'}")

    def as_dict(self) -> dict:
        return asdict(self)


def _check_optional_positive(value, name: str):
    return None if value is None else check_positive_int(value, name=name)


def ssl_settings(
    profile: str,
    *,
    dataset: str = "auto",
    seed: int = 0,
    epochs: int | None = None,
    encoder: str | None = None,
    width: int | None = None,
    n_max: int | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    proj_dim: int | None = None,
    warmup_epochs: int | None = None,
    probe_epochs: int | None = None,
    val_per_class: int | None = None,
    test_per_class: int | None = None,
    lr: float = 0.5,
) -> SSLSettings:
    """The run settings of an SSL notebook: the :data:`SSL_PROFILES` row of ``profile``, overridden.

    Every keyword left at ``None`` takes the profile's value; anything else wins (the notebooks
    pass their ``EPOCHS``, ``N_MAX``, ``IMAGE_SIZE`` and ``WIDTH`` parameters straight through).
    With ``epochs`` given and ``warmup_epochs`` not, the warm-up keeps the profile's share of the
    schedule, rounded (``full``: 10 of 300 epochs, so 3 for ``epochs=100``).
    ``dataset`` goes through :func:`ltutorial.data.resolve_dataset` ("auto": CIFAR-10-LT if found,
    else digits-lt). On digits-lt the pool holds 100 images per class, so ``n_max`` is capped at
    100 (``None`` means 100), 24 images per class are held out for the probe, the images keep
    their native 8x8 size and the whole test split is used; an explicit ``n_max`` above 100 or
    an ``image_size`` is reported in one printed line. Used by notebooks 10, 11 and 12.
    """
    from ltutorial.data import DATASETS, resolve_dataset
    from ltutorial.models import MODELS

    if not isinstance(profile, str) or profile not in SSL_PROFILES:
        raise ValueError(f"profile must be one of {list(PROFILES)}; got {profile!r} instead.")
    if dataset != "auto" and (not isinstance(dataset, str) or dataset not in DATASETS):
        raise ValueError(f"dataset must be 'auto' or one of {sorted(DATASETS)}; got {dataset!r} instead.")
    dataset = resolve_dataset(dataset)
    seed = check_positive_int(seed, name="seed", minimum=0)
    given = dict(epochs=epochs, encoder=encoder, width=width, n_max=n_max, image_size=image_size,
                 batch_size=batch_size, proj_dim=proj_dim, warmup_epochs=warmup_epochs, probe_epochs=probe_epochs,
                 val_per_class=val_per_class, test_per_class=test_per_class)
    values = {k: (SSL_PROFILES[profile][k] if v is None else v) for k, v in given.items()}
    if not isinstance(values["encoder"], str) or values["encoder"] not in MODELS:
        raise ValueError(f"encoder must be one of {sorted(MODELS)}; got {values['encoder']!r} instead.")
    for name in ("epochs", "batch_size", "proj_dim", "probe_epochs"):
        values[name] = check_positive_int(values[name], name=name)
    if epochs is not None and warmup_epochs is None:
        # The profile's warm-up is a share of its schedule: keep the share for another length
        # (full: 10 of 300 epochs -> 3 of 100, 0 of 1), as TrainConfig.with_epochs does.
        row = SSL_PROFILES[profile]
        values["warmup_epochs"] = min(values["epochs"], round(row["warmup_epochs"] * values["epochs"] / row["epochs"]))
    values["warmup_epochs"] = check_positive_int(values["warmup_epochs"], name="warmup_epochs", minimum=0)
    if values["warmup_epochs"] > values["epochs"]:
        raise ValueError(f"warmup_epochs must be <= epochs ({values['epochs']}); got {values['warmup_epochs']} instead.")
    values["val_per_class"] = check_positive_int(values["val_per_class"], name="val_per_class", minimum=0)
    for name in _OPTIONAL:
        values[name] = _check_optional_positive(values[name], name)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a number > 0; got {lr!r} instead.")
    if dataset == "digits-lt":
        if n_max is not None and n_max > _DIGITS_POOL:
            print(f"digits-lt: n_max={n_max} exceeds the {_DIGITS_POOL}-image pool per class; using {_DIGITS_POOL}.")
        if image_size is not None:
            print(f"digits-lt: image_size={image_size} ignored; the 8x8 digits are used at their native size.")
        values["n_max"] = min(values["n_max"] or _DIGITS_POOL, _DIGITS_POOL)
        values["image_size"] = None
        values["val_per_class"] = _DIGITS_VAL_PER_CLASS if val_per_class is None else values["val_per_class"]
        values["test_per_class"] = None if test_per_class is None else values["test_per_class"]
    return SSLSettings(profile=profile, dataset=dataset, seed=seed, lr=float(lr), **values)


def make_encoder(settings: SSLSettings, num_classes: int):
    """A fresh backbone of ``settings.encoder`` for ``num_classes`` (the linear head a probe replaces).

    SmallCNN gets ``settings.width``; 1 input channel on digits-lt, else 3. The weights come from
    torch's global generator, so call ``lt.seed_everything`` first for repeatable runs.
    Notebooks 10-12 build every encoder they pre-train through it.
    """
    from ltutorial.models import build_model

    if not isinstance(settings, SSLSettings):
        raise ValueError(f"settings must be an SSLSettings (from ssl_settings); got {type(settings).__name__} instead.")
    num_classes = check_positive_int(num_classes, name="num_classes")
    kw = {"width": settings.width} if settings.encoder == "small_cnn" and settings.width is not None else {}
    return build_model(settings.encoder, num_classes=num_classes, in_channels=settings.in_channels, **kw)


def ssl_experiment_data(settings: SSLSettings, *, root=None, imbalance_ratio: float = 100, verbose: bool = True) -> dict:
    """The data of an SSL notebook: :func:`ltutorial.ssl.subsets.load_ssl_data` at ``settings``' sizes.

    Returns its dict: ``imbalanced`` (D_i), ``balanced`` (D_b), ``probe_train``, ``test``,
    ``class_counts`` (D_i's, the many/medium/few key) and ``subsets``. ``verbose`` prints D_i's
    size and class counts, the encoder and epochs, and the source of the images. Notebooks 10-12.
    """
    from ltutorial.ssl.subsets import load_ssl_data

    if not isinstance(settings, SSLSettings):
        raise ValueError(f"settings must be an SSLSettings (from ssl_settings); got {type(settings).__name__} instead.")
    data = load_ssl_data(settings.dataset, n_max=settings.n_max, val_per_class=settings.val_per_class,
                         image_size=settings.image_size, test_per_class=settings.test_per_class,
                         imbalance_ratio=imbalance_ratio, seed=settings.seed, root=root)
    if verbose:
        d_i = data["imbalanced"]
        print(f"{settings.dataset}: D_i {len(d_i)} images {d_i.class_counts.tolist()}; "
              f"{settings.encoder}, {settings.epochs} epochs")
        print("source:", d_i.source)
    return data
