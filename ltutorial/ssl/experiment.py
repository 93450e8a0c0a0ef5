"""The shared settings of the SSL notebooks 10-12 (same encoder, subsets and probe; only the method differs)."""

from __future__ import annotations

from dataclasses import dataclass

from ltutorial._validation import check_number, check_positive_int
from ltutorial.data import DATASETS, resolve_dataset
from ltutorial.models import MODELS, build_model
from ltutorial.profiles import PROFILES
from ltutorial.ssl.subsets import load_ssl_data

__all__ = ["SSL_PROFILES", "SSLSettings", "ssl_settings", "make_encoder", "ssl_experiment_data"]

# cpu: a SmallCNN on CIFAR shrunk to 16x16, 600 images in D_i's largest class (a laptop's minutes);
# full: the papers' setting (ResNet-18, the whole 4,500-per-class pool, 500 held out, full test set).
SSL_PROFILES: dict[str, dict] = {
    "smoke": dict(epochs=2, encoder="small_cnn", width=8, n_max=200, image_size=16, batch_size=64, proj_dim=32,
                  warmup_epochs=1, probe_epochs=20, val_per_class=50, test_per_class=50),
    "cpu": dict(epochs=15, encoder="small_cnn", width=32, n_max=600, image_size=16, batch_size=128, proj_dim=64,
                warmup_epochs=1, probe_epochs=50, val_per_class=100, test_per_class=200),
    "full": dict(epochs=300, encoder="resnet18_cifar", width=None, n_max=None, image_size=None, batch_size=512,
                 proj_dim=128, warmup_epochs=10, probe_epochs=200, val_per_class=500, test_per_class=None),
}
# digits-lt keeps 124 training digits per class: 24 held out for the probe leave a pool of 100.
_DIGITS_VAL_PER_CLASS, _DIGITS_POOL = 24, 100


@dataclass(frozen=True)
class SSLSettings:
    """Resolved settings of one SSL notebook run (see :func:`ssl_settings`)."""

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

    digits = property(lambda self: self.dataset == "digits-lt")
    in_channels = property(lambda self: 1 if self.digits else 3)

    def train_kwargs(self, device, *, weight_decay: float) -> dict:
        """Keywords for :func:`ltutorial.ssl.pretrain`; ``weight_decay`` is the method's (SDCLR 1e-4, BCL/GH 5e-4)."""
        return dict(epochs=self.epochs, batch_size=self.batch_size, warmup_epochs=self.warmup_epochs,
                    proj_dim=self.proj_dim, device=device, seed=self.seed,
                    weight_decay=check_number(weight_decay, name="weight_decay"))

    def summary(self) -> str:
        return (f"{self.dataset}: {self.encoder}, {self.epochs} epochs, batch {self.batch_size}, "
                f"n_max {self.n_max}, image size {self.image_size or 'native'}")


def ssl_settings(profile: str, *, dataset: str = "auto", seed: int = 0, **overrides) -> SSLSettings:
    """The :data:`SSL_PROFILES` row of ``profile`` with ``overrides`` (its keys; ``None`` keeps the row's value).

    An ``epochs`` override keeps the profile's warm-up share, rounded. digits-lt (``dataset`` "auto"
    without CIFAR-10) caps ``n_max`` at its pool of 100 and keeps the native 8x8 size and the test split.
    """
    if not isinstance(profile, str) or profile not in SSL_PROFILES:
        raise ValueError(f"profile must be one of {list(PROFILES)}; got {profile!r} instead.")
    if dataset != "auto" and (not isinstance(dataset, str) or dataset not in DATASETS):
        raise ValueError(f"dataset must be 'auto' or one of {sorted(DATASETS)}; got {dataset!r} instead.")
    row = SSL_PROFILES[profile]
    unknown = sorted(overrides.keys() - row.keys())
    if unknown:
        raise ValueError(f"overrides must be settings of {list(row)}; got {unknown} instead.")
    dataset, seed = resolve_dataset(dataset), check_positive_int(seed, name="seed", minimum=0)
    v = {k: (row[k] if overrides.get(k) is None else overrides[k]) for k in row}
    if not isinstance(v["encoder"], str) or v["encoder"] not in MODELS:
        raise ValueError(f"encoder must be one of {sorted(MODELS)}; got {v['encoder']!r} instead.")
    for name in ("epochs", "batch_size", "proj_dim", "probe_epochs"):
        v[name] = check_positive_int(v[name], name=name)
    if overrides.get("epochs") is not None and overrides.get("warmup_epochs") is None:
        v["warmup_epochs"] = min(v["epochs"], round(row["warmup_epochs"] * v["epochs"] / row["epochs"]))
    v["warmup_epochs"] = check_positive_int(v["warmup_epochs"], name="warmup_epochs", minimum=0)
    if v["warmup_epochs"] > v["epochs"]:
        raise ValueError(f"warmup_epochs must be <= epochs ({v['epochs']}); got {v['warmup_epochs']} instead.")
    v["val_per_class"] = check_positive_int(v["val_per_class"], name="val_per_class", minimum=0)
    for name in ("width", "n_max", "image_size", "test_per_class"):  # None: not used / native / all
        v[name] = None if v[name] is None else check_positive_int(v[name], name=name)
    if dataset == "digits-lt":
        n_max, image_size = overrides.get("n_max"), overrides.get("image_size")
        if n_max is not None and n_max > _DIGITS_POOL:
            print(f"digits-lt: n_max={n_max} exceeds the {_DIGITS_POOL}-image pool per class; using {_DIGITS_POOL}.")
        if image_size is not None:
            print(f"digits-lt: image_size={image_size} ignored; the 8x8 digits are used at their native size.")
        v["n_max"], v["image_size"] = min(v["n_max"] or _DIGITS_POOL, _DIGITS_POOL), None
        if overrides.get("val_per_class") is None:
            v["val_per_class"] = _DIGITS_VAL_PER_CLASS
        if overrides.get("test_per_class") is None:
            v["test_per_class"] = None
    return SSLSettings(profile=profile, dataset=dataset, seed=seed, **v)


def make_encoder(settings: SSLSettings, num_classes: int):
    """A fresh backbone of ``settings.encoder`` from torch's global generator (seed it for repeatable runs)."""
    if not isinstance(settings, SSLSettings):
        raise ValueError(f"settings must be an SSLSettings (from ssl_settings); got {type(settings).__name__} instead.")
    num_classes = check_positive_int(num_classes, name="num_classes")
    kw = {"width": settings.width} if settings.encoder == "small_cnn" and settings.width is not None else {}
    return build_model(settings.encoder, num_classes=num_classes, in_channels=settings.in_channels, **kw)


def ssl_experiment_data(settings: SSLSettings) -> dict:
    """:func:`ltutorial.ssl.subsets.load_ssl_data` at ``settings``' sizes."""
    if not isinstance(settings, SSLSettings):
        raise ValueError(f"settings must be an SSLSettings (from ssl_settings); got {type(settings).__name__} instead.")
    return load_ssl_data(settings.dataset, n_max=settings.n_max, val_per_class=settings.val_per_class,
                         image_size=settings.image_size, test_per_class=settings.test_per_class, seed=settings.seed)
