"""Re-samplers compared on one classifier over several seeds: balanced accuracy, G-mean, macro-F1 (notebook 02)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltutorial import metrics as _metrics

METRICS = {"balanced accuracy": _metrics.balanced_accuracy, "G-mean": _metrics.g_mean, "macro-F1": _metrics.macro_f1}


@dataclass
class SamplerComparison:
    """``scores[name]``: (n_seeds x n_metrics), row i for ``seeds[i]``; ``mean`` / ``std`` (ddof 0) over the seeds."""

    metrics: tuple
    seeds: tuple
    scores: dict
    mean: dict
    std: dict


def compare_samplers(samplers: dict, data, *, estimator_factory, seeds, metrics=tuple(METRICS)) -> SamplerComparison:
    """Score ``estimator_factory(seed).fit(*sampler.fit_resample(X_train, y_train)).predict(X_test)`` per seed.

    ``data(seed)``: ``(X_train, y_train, X_test, y_test)``; ``samplers``: name -> ``factory(seed)`` returning a
    sampler, or None for no re-sampling. Metrics from ``METRICS`` (G-mean: Kubat & Matwin 1997). Notebook 02.
    """
    if not (isinstance(samplers, dict) and samplers and all(f is None or callable(f) for f in samplers.values())):
        raise ValueError(f"samplers must be a non-empty dict name -> None or factory(seed) -> sampler; got {samplers!r}"
                         " instead.")
    for name, value in (("data", data), ("estimator_factory", estimator_factory)):
        if not callable(value):
            raise ValueError(f"{name} must be a callable of the seed; got {type(value).__name__} instead.")
    seeds_in = seeds
    seeds = () if isinstance(seeds, (int, np.integer, str, bytes)) or not hasattr(seeds, "__iter__") else tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers; got {seeds_in!r} instead.")
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics or any(m not in METRICS for m in metrics):
        raise ValueError(f"metrics must be names from {list(METRICS)}; got {list(metrics)} instead.")
    scores = {name: [] for name in samplers}
    for seed in seeds:
        X_tr, y_tr, X_te, y_te = data(seed)
        for name, factory in samplers.items():
            X_fit, y_fit = (X_tr, y_tr) if factory is None else factory(seed).fit_resample(X_tr, y_tr)
            pred = estimator_factory(seed).fit(X_fit, y_fit).predict(X_te)
            scores[name].append([METRICS[m](y_te, pred) for m in metrics])
    scores = {name: np.asarray(rows, dtype=np.float64) for name, rows in scores.items()}
    return SamplerComparison(metrics, seeds, scores, {n: np.mean(s, axis=0) for n, s in scores.items()},
                             {n: np.std(s, axis=0) for n, s in scores.items()})
