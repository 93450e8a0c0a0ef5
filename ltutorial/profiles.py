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
