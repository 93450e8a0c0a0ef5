"""Run profiles shared by every notebook: ``smoke`` (CI), ``cpu`` (a laptop), ``full`` (a GPU)."""

from __future__ import annotations

from ltutorial._validation import check_choice

PROFILES = ("smoke", "cpu", "full")


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of ``PROFILES``, else raise ValueError listing them."""
    check_choice(profile, list(PROFILES), name="PROFILE")
    return profile


def pick(profile: str, *, smoke, cpu, full, override=None):
    """Return the value for ``profile``, or ``override`` when it is not None.

    Notebooks keep ``EPOCHS = None`` style knobs in their parameters cell; ``None`` means
    "the profile's value", anything else is the user's explicit choice.
    """
    check_profile(profile)
    if override is not None:
        return override
    return {"smoke": smoke, "cpu": cpu, "full": full}[profile]


def supervised_settings(profile: str, dataset: str, *, epochs: int | None = None, width: int | None = None) -> dict:
    """Training settings shared by every notebook that trains a supervised model (01, 03, 06-09).

    One table, so the ERM baseline of a data set and profile is the same run, and the same number,
    wherever a notebook quotes it. Returns keyword arguments for ``lt.train.train_methods``:
    ``model``, ``model_kwargs``, ``epochs``, ``batch_size``, ``eval_every``, ``weight_decay`` (a field
    of the LDAM-DRW recipe it replaces) and ``method_params`` (``{METHODS name: {param: value}}`` over
    ``lt.reproduce.METHODS``). ``epochs`` / ``width`` override the profile's value (None keeps it).
    The data step is ``lt.data.prepare_experiment`` (imbalance ratio 100 for every data set).

    ``full`` is the papers' recipe (ResNet-32, 200 epochs, weight decay 2e-4, LDAM s = 30). ``cpu`` on
    CIFAR-10-LT (16x16, 2,000 test images) was searched for the slides' orderings of notebooks 06-09 at
    a few minutes per notebook on 2 cores: the SmallCNN over 15 epochs with weight decay 5e-4 and LDAM's
    s = 16 (with s = 30 this small cosine head under-fits and LDAM-DRW trails ERM-DRW). For seeds 0, 1
    and 123 it shows CB over softmax, LDAM-DRW over ERM, DRW over no DRW, LA (loss and post-hoc) over
    ERM and the two-phase TLA/ADRW schedule over VS with the same gamma and tau; LDAM alone over ERM,
    LDAM-DRW over ERM-DRW and VS (gamma 0.2, tau 1.2) over ERM do not hold for every seed, and the
    notebooks print them without asserting. The digits-lt fallback (304 images, memorised within a few
    epochs) gets weight decay 5e-3, so its training loss is not zero when DRW and TLA switch on.
    """
    check_profile(profile)
    small_data = dataset == "digits-lt"  # 304 training images: smaller batches, more epochs
    epochs = pick(profile, smoke=2, cpu=30 if small_data else 15, full=200, override=epochs)
    model = pick(profile, smoke="small_cnn", cpu="small_cnn", full="resnet32")
    if width is not None and model != "small_cnn":
        raise ValueError(f"width applies to the SmallCNN of the smoke/cpu profiles; the {profile} profile trains "
                         f"{model}, got width={width!r} instead.")
    width = pick(profile, smoke=8, cpu=16, full=None, override=width)
    small_cpu_wd = 5e-3 if small_data else 5e-4
    ldam_small = {} if small_data else {"ldam-drw": {"s": 16.0}}
    return {
        "model": model,
        "model_kwargs": {"width": width} if model == "small_cnn" else {},
        "epochs": epochs,
        "batch_size": pick(profile, smoke=128, cpu=32 if small_data else 128, full=128),
        "eval_every": pick(profile, smoke=epochs, cpu=epochs, full=1),
        "weight_decay": pick(profile, smoke=small_cpu_wd, cpu=small_cpu_wd, full=2e-4),
        "method_params": pick(profile, smoke=ldam_small, cpu=ldam_small, full={}),
    }
