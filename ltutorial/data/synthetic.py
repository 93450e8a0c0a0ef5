"""2-D (or d-D) synthetic imbalanced data for the classic notebooks, with known structure.

* ``make_gaussian_mixture``: one Gaussian per class with chosen counts (the SMOTE / re-weighting
  figures of notebook 02);
* ``make_longtail_blobs``: C Gaussian blobs on a circle with long-tailed counts;
* ``make_multimodal_rare``: a majority class made of several clusters surrounding a rare class,
  the situation COG's local clustering (Wu et al., KDD 2007 / DMKD 2010) is designed for;
* ``GaussianBinaryProblem`` / ``make_imbalanced_gaussians``: a binary problem with known class
  conditionals N(mu_y, Sigma), so eta(x) = P(y=1|x) and the Bayes-optimal rules for accuracy
  (eta > 1/2) and for balanced accuracy (eta > p; Menon et al., ICML 2013) are known in closed form.

All return numpy ``X`` float32 (N x d) and ``y`` int64 (N,), rows grouped by class; all take
``random_state`` (None or an int; the same int gives the same data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ltutorial._validation import check_choice, check_positive_int, check_probability, check_random_state
from ltutorial.data.longtail import longtail_counts

__all__ = [
    "make_gaussian_mixture",
    "make_longtail_blobs",
    "make_multimodal_rare",
    "GaussianBinaryProblem",
    "make_imbalanced_gaussians",
    "bayes_optimal_rule",
]


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(check_random_state(random_state))


def _check_counts(class_counts, num_classes: int) -> list[int]:
    if isinstance(class_counts, (int, np.integer)) and not isinstance(class_counts, bool):
        counts = [int(class_counts)] * num_classes
    else:
        try:
            counts = [c for c in class_counts]
        except TypeError:
            raise ValueError(f"class_counts must be an int or a sequence of {num_classes} ints; got {class_counts!r} instead.") from None
    ok = len(counts) == num_classes and all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 1 for c in counts
    )
    if not ok:
        raise ValueError(f"class_counts must be an int >= 1 or {num_classes} ints >= 1 (one per center); got {class_counts!r} instead.")
    return [int(c) for c in counts]


def _check_cov(cov, num_classes: int, dim: int) -> np.ndarray:
    """Per-class covariance matrices (C x d x d) from a variance, C variances, one matrix or C matrices."""
    try:
        arr = np.asarray(cov, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"cov must be a number or an array of numbers; got {cov!r} instead.") from None
    # checked before broadcasting: inf * the zeros of the identity would turn into NaN
    if not np.all(np.isfinite(arr)):
        raise ValueError("cov must be finite; got non-finite entries instead.")
    if arr.ndim == 0:
        covs = np.broadcast_to(np.eye(dim) * arr, (num_classes, dim, dim))
    elif arr.ndim == 1 and arr.shape[0] == num_classes:
        covs = arr[:, None, None] * np.eye(dim)[None]
    elif arr.shape == (dim, dim):
        covs = np.broadcast_to(arr, (num_classes, dim, dim))
    elif arr.shape == (num_classes, dim, dim):
        covs = arr
    else:
        raise ValueError(
            f"cov must be a variance, {num_classes} variances, a {dim}x{dim} matrix or {num_classes} such matrices; "
            f"got shape {arr.shape} instead."
        )
    for c in range(num_classes):
        if not np.allclose(covs[c], covs[c].T) or np.linalg.eigvalsh(covs[c]).min() <= 0:
            raise ValueError(f"cov must be symmetric positive definite; got a matrix for class {c} that is not instead.")
    return np.array(covs)


def make_gaussian_mixture(class_counts, centers, cov=1.0, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Sample class c from N(centers[c], cov_c), ``class_counts[c]`` times; X float32, y int64.

    ``class_counts``: one int for all classes or one per class; ``centers``: C x d;
    ``cov``: a variance (isotropic), C variances, a d x d matrix, or C such matrices.
    x = mu_c + L_c z with L_c L_c^T = cov_c and z ~ N(0, I). Notebook 02 (SMOTE).
    """
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[0] < 1 or not np.all(np.isfinite(centers)):
        raise ValueError(f"centers must be a finite C x d array; got shape {centers.shape} instead.")
    num_classes, dim = centers.shape
    counts = _check_counts(class_counts, num_classes)
    covs = _check_cov(cov, num_classes, dim)
    rng = _rng(random_state)
    xs, ys = [], []
    for c in range(num_classes):
        chol = np.linalg.cholesky(covs[c])
        z = rng.standard_normal((counts[c], dim))
        xs.append(centers[c] + z @ chol.T)
        ys.append(np.full(counts[c], c, dtype=np.int64))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def _circle(num_points: int, radius: float, dim: int = 2) -> np.ndarray:
    angles = 2 * np.pi * np.arange(num_points) / num_points
    pts = np.zeros((num_points, dim))
    pts[:, 0], pts[:, 1] = radius * np.cos(angles), radius * np.sin(angles)
    return pts


def _check_positive_float(value, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
        math.isfinite(float(value)) and float(value) > 0
    ):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r} instead.")
    return float(value)


def make_longtail_blobs(
    num_classes: int = 3,
    n_max: int = 500,
    imbalance_ratio: float = 10,
    profile: str = "exp",
    random_state=None,
    *,
    radius: float = 2.5,
    cluster_std: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """C isotropic 2-D blobs with centers evenly on a circle of ``radius``, counts from ``longtail_counts``.

    Class c has ``longtail_counts(n_max, C, imbalance_ratio, profile)[c]`` points from
    N(center_c, cluster_std^2 I); class 0 is the head. No notebook uses it (tests and exercises of your own).
    """
    num_classes = check_positive_int(num_classes, name="num_classes", minimum=2)
    counts = longtail_counts(n_max, num_classes, imbalance_ratio, profile)
    radius = _check_positive_float(radius, name="radius")
    cluster_std = _check_positive_float(cluster_std, name="cluster_std")
    return make_gaussian_mixture(counts, _circle(num_classes, radius), cov=cluster_std**2, random_state=random_state)


def make_multimodal_rare(
    n_majority: int = 600,
    n_rare: int = 30,
    n_clusters: int = 4,
    random_state=None,
    *,
    radius: float = 3.0,
    majority_std: float = 0.7,
    rare_std: float = 0.5,
    return_clusters: bool = False,
):
    """Binary data: a majority class (y=0) of ``n_clusters`` blobs on a circle around a rare class (y=1).

    No single line separates the rare class, but each majority cluster against the rare class is
    nearly linearly separable: the structure COG exploits by clustering the large class into
    sub-classes (Wu, Xiong & Chen, DMKD 2010). The majority points are split as evenly as
    possible over the clusters. With ``return_clusters`` also returns the generating cluster of
    every point (0..n_clusters-1 for the majority, -1 for the rare class). Notebook 04 (COG).
    """
    n_majority = check_positive_int(n_majority, name="n_majority")
    n_rare = check_positive_int(n_rare, name="n_rare")
    n_clusters = check_positive_int(n_clusters, name="n_clusters")
    if n_clusters > n_majority:
        raise ValueError(f"n_clusters must be <= n_majority ({n_majority}); got {n_clusters} instead.")
    radius = _check_positive_float(radius, name="radius")
    majority_std = _check_positive_float(majority_std, name="majority_std")
    rare_std = _check_positive_float(rare_std, name="rare_std")
    per_cluster = [n_majority // n_clusters + (1 if k < n_majority % n_clusters else 0) for k in range(n_clusters)]
    centers = np.vstack([_circle(n_clusters, radius), np.zeros((1, 2))])
    variances = [majority_std**2] * n_clusters + [rare_std**2]
    X, comp = make_gaussian_mixture(per_cluster + [n_rare], centers, cov=variances, random_state=random_state)
    y = (comp == n_clusters).astype(np.int64)
    if return_clusters:
        return X, y, np.where(y == 1, -1, comp).astype(np.int64)
    return X, y


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@dataclass
class GaussianBinaryProblem:
    """Binary problem with X | y ~ N(mu_y, cov) (shared covariance) and P(y = 1) = positive_rate.

    Log-odds: log eta(x)/(1 - eta(x)) = w.x + b with w = cov^{-1} (mu1 - mu0),
    b = -(mu1' cov^{-1} mu1 - mu0' cov^{-1} mu0) / 2 + log(p / (1 - p)).
    Bayes rules: accuracy predicts 1 iff eta(x) > 1/2; balanced accuracy (AM) iff eta(x) > p
    (Menon, Narasimhan, Agarwal & Chawla, ICML 2013). With Mahalanobis distance D between the
    means and the rule "w.x + b > t", TPR = Phi((D^2/2 - t')/D), TNR = Phi((D^2/2 + t')/D) where
    t' = t - log(p/(1-p)); the balanced-accuracy rule (t' = 0) scores Phi(D/2). Notebook 05.
    """

    mu0: np.ndarray
    mu1: np.ndarray
    cov: np.ndarray
    positive_rate: float

    def __post_init__(self):
        self.mu0 = np.asarray(self.mu0, dtype=np.float64).reshape(-1)
        self.mu1 = np.asarray(self.mu1, dtype=np.float64).reshape(-1)
        dim = self.mu0.shape[0]
        if self.mu1.shape != (dim,):
            raise ValueError(f"mu1 must have the same length as mu0 ({dim}); got {self.mu1.shape[0]} instead.")
        self.cov = _check_cov(self.cov, 1, dim)[0]
        self.positive_rate = check_probability(self.positive_rate, name="positive_rate", inclusive_low=False, inclusive_high=False)
        self._prec = np.linalg.inv(self.cov)

    @property
    def dim(self) -> int:
        return self.mu0.shape[0]

    @property
    def weights(self) -> np.ndarray:
        return self._prec @ (self.mu1 - self.mu0)

    @property
    def prior_log_odds(self) -> float:
        p = self.positive_rate
        return math.log(p / (1 - p))

    @property
    def mahalanobis(self) -> float:
        d = self.mu1 - self.mu0
        return float(math.sqrt(d @ self._prec @ d))

    def log_odds(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must be an N x {self.dim} array; got shape {X.shape} instead.")
        b = -0.5 * (self.mu1 @ self._prec @ self.mu1 - self.mu0 @ self._prec @ self.mu0) + self.prior_log_odds
        return X @ self.weights + b

    def eta(self, X) -> np.ndarray:
        """P(y = 1 | x), the true posterior."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(X)))

    def predict(self, X, metric: str = "balanced_accuracy") -> np.ndarray:
        """The Bayes-optimal labels for ``metric`` ("balanced_accuracy": eta > p; "accuracy": eta > 1/2)."""
        shift = _RULE_SHIFTS[_check_metric(metric)](self)
        return (self.log_odds(X) - shift > 0).astype(np.int64)

    def rates(self, metric: str = "balanced_accuracy") -> tuple[float, float]:
        """Exact (TPR, TNR) of the Bayes rule for ``metric``."""
        t = _RULE_SHIFTS[_check_metric(metric)](self) - self.prior_log_odds
        d = self.mahalanobis
        return _normal_cdf((d * d / 2 - t) / d), _normal_cdf((d * d / 2 + t) / d)

    def balanced_accuracy(self, metric: str = "balanced_accuracy") -> float:
        """Exact balanced accuracy (TPR + TNR) / 2 of the Bayes rule for ``metric``."""
        tpr, tnr = self.rates(metric)
        return 0.5 * (tpr + tnr)

    def sample(self, n_samples: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """n_samples points, exactly round(n * p) (at least 1) of them positive; X float32, y int64."""
        n_samples = check_positive_int(n_samples, name="n_samples", minimum=2)
        n_pos = min(max(1, int(round(n_samples * self.positive_rate))), n_samples - 1)
        return make_gaussian_mixture(
            [n_samples - n_pos, n_pos], np.stack([self.mu0, self.mu1]), cov=self.cov, random_state=random_state
        )


# Threshold on the log-odds w.x + b for each metric's Bayes rule: eta > 1/2 is log-odds > 0;
# eta > p is log-odds > log(p / (1 - p)).
_RULE_SHIFTS = {
    "accuracy": lambda problem: 0.0,
    "balanced_accuracy": lambda problem: problem.prior_log_odds,
}


def _check_metric(metric) -> str:
    check_choice(metric, sorted(_RULE_SHIFTS), name="metric")
    return metric


def make_imbalanced_gaussians(
    n_samples: int = 1000,
    positive_rate: float = 0.05,
    separation: float = 2.0,
    dim: int = 2,
    random_state=None,
    *,
    return_problem: bool = False,
):
    """Binary imbalanced data from X | y ~ N(+-separation/2 e_1, I_dim), P(y=1) = positive_rate.

    The Mahalanobis distance between the classes is ``separation``, so the Bayes balanced
    accuracy is Phi(separation / 2). With ``return_problem`` also returns the
    ``GaussianBinaryProblem`` that gives eta(x) and the Bayes rules. Notebook 05 (plug-in rule).
    """
    separation = _check_positive_float(separation, name="separation")
    dim = check_positive_int(dim, name="dim")
    mu = np.zeros(dim)
    mu[0] = separation / 2
    problem = GaussianBinaryProblem(-mu, mu, np.eye(dim), positive_rate)
    X, y = problem.sample(n_samples, random_state)
    return (X, y, problem) if return_problem else (X, y)


def bayes_optimal_rule(problem: GaussianBinaryProblem, metric: str = "balanced_accuracy"):
    """The Bayes-optimal classifier x -> {0, 1} for ``metric`` as a function of an N x d array.

    balanced accuracy: 1 iff eta(x) > p (the base rate); accuracy: 1 iff eta(x) > 1/2.
    """
    if not isinstance(problem, GaussianBinaryProblem):
        raise ValueError(f"problem must be a GaussianBinaryProblem; got {type(problem).__name__} instead.")
    metric = _check_metric(metric)
    return lambda X: problem.predict(X, metric)
