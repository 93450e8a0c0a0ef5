"""Re-samplers compared on one classifier over several seeds: balanced accuracy, G-mean, macro-F1 (notebook 02)."""

from dataclasses import dataclass

import numpy as np

from ltutorial import metrics as _metrics

METRICS = {"balanced accuracy": _metrics.balanced_accuracy, "G-mean": _metrics.g_mean, "macro-F1": _metrics.macro_f1}


@dataclass
class SamplerComparison:
    """``scores[name]``: (n_seeds x n_metrics), row i for ``seeds[i]``, columns ``metrics``; ``mean`` over the seeds."""

    metrics: tuple
    seeds: tuple
    scores: dict
    mean: dict


def compare_samplers(samplers: dict, data, *, estimator_factory, seeds) -> SamplerComparison:
    """Score ``estimator_factory(seed).fit(*sampler.fit_resample(X_train, y_train)).predict(X_test)`` per seed.

    ``data``: ``(X_train, y_train, X_test, y_test)`` or ``data(seed)`` giving one; ``samplers``: name -> None (no
    re-sampling) or ``factory(seed)``. G-mean: Kubat & Matwin 1997; notebook 02 compares SMOTE (Chawla et al. 2002)."""
    if not isinstance(samplers, dict) or not samplers:
        raise ValueError("samplers must be a non-empty dict name -> None or factory(seed) -> sampler; "
                         f"got {samplers!r} instead.")
    for name, factory in samplers.items():
        if factory is not None and not callable(factory):
            raise ValueError(f"samplers[{name!r}] must be None or a callable factory(seed) -> sampler; "
                             f"got {type(factory).__name__} instead.")
    if not callable(estimator_factory):
        raise ValueError(f"estimator_factory must be a callable factory(seed) -> estimator with fit/predict; "
                         f"got {type(estimator_factory).__name__} instead.")
    seed_list = tuple(seeds) if hasattr(seeds, "__iter__") and not isinstance(seeds, (str, bytes)) else ()
    if not seed_list or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in seed_list):
        raise ValueError(f"seeds must be a non-empty sequence of integers; got {seeds!r} instead.")
    fixed = None if callable(data) else check_split(data, "data")
    scores = {name: [] for name in samplers}
    for seed in seed_list:
        X_tr, y_tr, X_te, y_te = fixed or check_split(data(seed), f"data({seed})")
        for name, factory in samplers.items():
            sampler = None if factory is None else factory(seed)
            if sampler is not None and not hasattr(sampler, "fit_resample"):
                raise ValueError(f"samplers[{name!r}]({seed}) must return None or an object with fit_resample; "
                                 f"got {type(sampler).__name__} instead.")
            X_fit, y_fit = (X_tr, y_tr) if sampler is None else sampler.fit_resample(X_tr, y_tr)
            pred = estimator_factory(seed).fit(X_fit, y_fit).predict(X_te)
            scores[name].append([metric(y_te, pred) for metric in METRICS.values()])
    scores = {name: np.asarray(rows, dtype=np.float64) for name, rows in scores.items()}
    return SamplerComparison(tuple(METRICS), seed_list, scores, {n: s.mean(axis=0) for n, s in scores.items()})


def check_split(split, where: str):
    """``split`` as (X_train, y_train, X_test, y_test) with X and y of equal length."""
    ok = isinstance(split, (tuple, list)) and len(split) == 4
    if not ok or len(split[0]) != len(split[1]) or len(split[2]) != len(split[3]):
        raise ValueError(f"{where} must be a tuple (X_train, y_train, X_test, y_test), X and y of equal length; "
                         f"got {[len(a) for a in split] if ok else type(split).__name__} instead.")
    return split
