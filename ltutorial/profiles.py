"""Run profiles shared by every notebook: ``smoke`` (CI), ``cpu`` (a laptop), ``full`` (a GPU)."""

from ltutorial._validation import check_choice
from ltutorial.methods import BENCHMARKS

PROFILES = ("smoke", "cpu", "full")

# Every profile's sizes, one table: "data" for the supervised notebooks (``lt.data.prepare_experiment``; None keeps
# the split whole / the images' size) and "ssl" for notebooks 10-12 (``lt.ssl.ssl_settings``); the supervised
# training settings are ``supervised_settings`` below. smoke: a CI run in seconds. cpu: all 12,406 CIFAR-10-LT
# training images at 16x16 and 2,000 test images; SSL: a SmallCNN, 600 images in D_i's largest class (a laptop's
# minutes). full: the papers' data and setting (SSL: ResNet-18, the 4,500-per-class pool, 500 held out).
SIZES = {
    "smoke": {"data": dict(max_train=3000, max_test=1000, image_size=16),
              "ssl": dict(epochs=2, encoder="small_cnn", width=8, n_max=200, image_size=16, batch_size=64,
                          proj_dim=32, warmup_epochs=1, probe_epochs=20, val_per_class=50, test_per_class=50)},
    "cpu": {"data": dict(max_train=None, max_test=2000, image_size=16),
            "ssl": dict(epochs=15, encoder="small_cnn", width=32, n_max=600, image_size=16, batch_size=128,
                        proj_dim=64, warmup_epochs=1, probe_epochs=50, val_per_class=100, test_per_class=200)},
    "full": {"data": dict(max_train=None, max_test=None, image_size=32),
             "ssl": dict(epochs=300, encoder="resnet18_cifar", width=None, n_max=None, image_size=None, batch_size=512,
                         proj_dim=128, warmup_epochs=10, probe_epochs=200, val_per_class=500, test_per_class=None)},
}


def pick(profile: str, *, smoke, cpu, full, override=None):
    """The profile's value, or ``override`` when it is not None (a notebook knob such as ``EPOCHS = None``)."""
    check_choice(profile, PROFILES, name="PROFILE")
    return override if override is not None else {"smoke": smoke, "cpu": cpu, "full": full}[profile]


def supervised_settings(profile: str, dataset: str, *, epochs: int | None = None, width: int | None = None) -> dict:
    """Keyword arguments for ``lt.train.train_methods`` of notebooks 01, 03 and 06-09, one table for all of them.

    ``cpu`` LDAM s = 16: at 30 the small cosine head under-fits; digits-lt weight decay 5e-3: the loss is not 0 at DRW.
    """
    small_data, full = dataset == "digits-lt", check_choice(profile, PROFILES, name="PROFILE") == "full"
    epochs = pick(profile, smoke=2, cpu=30 if small_data else 15, full=200, override=epochs)
    benchmark = BENCHMARKS.get(dataset, {}).get("params", {})  # e.g. CIFAR-100-LT's TLA/ADRW nu and tau
    small = {} if full or small_data else {"ldam-drw": {"s": 16.0}}  # merged per method over the benchmark's
    if width is not None and full:
        raise ValueError(f"width applies to the SmallCNN of the smoke/cpu profiles; the {profile} profile trains "
                         f"resnet32, got width={width!r} instead.")
    return {
        "model": "resnet32" if full else "small_cnn",
        "model_kwargs": {} if full else {"width": pick(profile, smoke=8, cpu=16, full=None, override=width)},
        "epochs": epochs,
        "batch_size": pick(profile, smoke=128, cpu=32 if small_data else 128, full=128),
        "eval_every": 1 if full else epochs,
        "weight_decay": 2e-4 if full else 5e-3 if small_data else 5e-4,
        "method_params": {m: {**benchmark.get(m, {}), **small.get(m, {})} for m in {**benchmark, **small}},
    }
