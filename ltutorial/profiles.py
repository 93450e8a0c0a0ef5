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
    wherever a notebook quotes it. Returns keyword arguments for ``lt.reproduce.train_methods``:
    ``model``, ``model_kwargs``, ``epochs``, ``batch_size``, ``eval_every``. ``epochs`` / ``width``
    override the profile's value (None keeps it). The data step is ``lt.data.prepare_experiment``.
    """
    check_profile(profile)
    small_data = dataset == "digits-lt"  # 304 training images: smaller batches, more epochs
    epochs = pick(profile, smoke=2, cpu=30 if small_data else 15, full=200, override=epochs)
    model = pick(profile, smoke="small_cnn", cpu="small_cnn", full="resnet32")
    width = pick(profile, smoke=8, cpu=16, full=None, override=width)
    return {
        "model": model,
        "model_kwargs": {"width": width} if model == "small_cnn" else {},
        "epochs": epochs,
        "batch_size": pick(profile, smoke=128, cpu=32 if small_data else 128, full=128),
        "eval_every": pick(profile, smoke=epochs, cpu=epochs, full=1),
    }
