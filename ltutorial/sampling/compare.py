"""Compare re-samplers on one classifier over several seeds: balanced accuracy, G-mean, macro-F1.

Notebook 02, section 4 (SMOTE against random over/under-sampling on long-tailed digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltutorial import metrics as _metrics

METRICS = {
    "balanced accuracy": _metrics.balanced_accuracy,
    "G-mean": _metrics.g_mean,
    "macro-F1": _metrics.macro_f1,
}


@dataclass
class SamplerComparison:
    """The result of ``compare_samplers``.

    ``scores[name]``: an (n_seeds x n_metrics) array, row i for ``seeds[i]``, columns in the order
    of ``metrics``; ``mean[name]`` / ``std[name]``: over the seeds (std with ddof = 0, so 0 for one seed).
    """

    metrics: tuple
    seeds: tuple
    scores: dict
    mean: dict
    std: dict


def _check_split(split, where: str):
    if not (isinstance(split, (tuple, list)) and len(split) == 4):
        raise ValueError(f"{where} must be a tuple (X_train, y_train, X_test, y_test); got {type(split).__name__} instead.")
    X_tr, y_tr, X_te, y_te = split
    if len(X_tr) != len(y_tr) or len(X_te) != len(y_te):
        raise ValueError(f"{where} must pair X and y of equal length; got {len(X_tr)}/{len(y_tr)} train and "
                         f"{len(X_te)}/{len(y_te)} test instead.")
    return split


def compare_samplers(samplers: dict, data, *, estimator_factory, seeds, metrics=tuple(METRICS)) -> SamplerComparison:
    """Score ``estimator_factory(seed).fit(*sampler.fit_resample(X_train, y_train)).predict(X_test)`` per seed.

    For each seed (in order): the split is ``data(seed)`` when ``data`` is callable (e.g. a new
    long-tailed draw per seed), else the fixed tuple ``data = (X_train, y_train, X_test, y_test)``;
    then for each ``samplers[name]`` (in order) the sampler is ``factory(seed)`` (an object with
    ``fit_resample``, e.g. ``lambda s: SMOTE(random_state=s)``), or ``None`` for no re-sampling. The
    prediction is scored with each of ``metrics`` (names from ``METRICS``: balanced accuracy =
    mean recall, G-mean = geometric mean of the recalls (Kubat & Matwin 1997), macro-F1). SMOTE:
    Chawla et al., JAIR 2002. Notebook 02 compares its samplers with it.
    """
    if not isinstance(samplers, dict) or not samplers:
        raise ValueError(f"samplers must be a non-empty dict name -> None or factory(seed) -> sampler; got {samplers!r} instead.")
    for name, factory in samplers.items():
        if factory is not None and not callable(factory):
            raise ValueError(f"samplers[{name!r}] must be None or a callable factory(seed) -> sampler; "
                             f"got {type(factory).__name__} instead.")
    if not callable(estimator_factory):
        raise ValueError(f"estimator_factory must be a callable factory(seed) -> estimator with fit/predict; "
                         f"got {type(estimator_factory).__name__} instead.")
    if isinstance(seeds, (int, np.integer)) or isinstance(seeds, (str, bytes)):
        raise ValueError(f"seeds must be a non-empty sequence of integers; got {seeds!r} instead.")
    try:
        seeds = tuple(seeds)
    except TypeError:
        raise ValueError(f"seeds must be a non-empty sequence of integers; got {seeds!r} instead.") from None
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers; got {seeds!r} instead.")
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if not metrics or unknown:
        raise ValueError(f"metrics must be names from {list(METRICS)}; got {list(metrics)} instead.")
    if not callable(data):
        fixed = _check_split(data, "data")

    scores = {name: [] for name in samplers}
    for seed in seeds:
        split = _check_split(data(seed), f"data({seed})") if callable(data) else fixed
        X_tr, y_tr, X_te, y_te = split
        for name, factory in samplers.items():
            sampler = None if factory is None else factory(seed)
            if sampler is None:
                X_fit, y_fit = X_tr, y_tr
            elif hasattr(sampler, "fit_resample"):
                X_fit, y_fit = sampler.fit_resample(X_tr, y_tr)
            else:
                raise ValueError(f"samplers[{name!r}]({seed}) must return None or an object with fit_resample; "
                                 f"got {type(sampler).__name__} instead.")
            pred = estimator_factory(seed).fit(X_fit, y_fit).predict(X_te)
            scores[name].append([METRICS[m](y_te, pred) for m in metrics])
    scores = {name: np.asarray(rows, dtype=np.float64) for name, rows in scores.items()}
    return SamplerComparison(metrics=metrics, seeds=seeds, scores=scores,
                             mean={n: np.mean(s, axis=0) for n, s in scores.items()},
                             std={n: np.std(s, axis=0) for n, s in scores.items()})
