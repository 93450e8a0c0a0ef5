"""Synthetic imbalanced data with known structure (notebooks 02, 04, 05): class c ~ N(mu_c, Sigma_c), x = mu_c +
L_c z with L_c L_c^T = Sigma_c; X float32 N x d, y int64, rows grouped by class, the same ``random_state`` the
same data. ``GaussianBinaryProblem``: the Bayes rules in closed form (Menon et al., ICML 2013)."""

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ltutorial._validation import check_choice, check_number, check_positive_int, check_probability, check_random_state

__all__ = ["make_gaussian_mixture", "make_multimodal_rare", "GaussianBinaryProblem", "make_imbalanced_gaussians"]


def make_gaussian_mixture(class_counts, centers, cov=1.0, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """``class_counts[c]`` (or one int for all) samples of N(centers[c], cov_c) per class (notebook 02, SMOTE);
    ``cov``: a variance, C variances, a d x d matrix or C of them."""
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[0] < 1 or not np.all(np.isfinite(centers)):
        raise ValueError(f"centers must be a finite C x d array; got shape {centers.shape} instead.")
    num_classes, dim = centers.shape
    counts = np.asarray(class_counts)
    counts = np.full(num_classes, counts) if counts.ndim == 0 else counts  # one int for every class
    if counts.shape != (num_classes,) or counts.dtype.kind not in "iu" or (counts < 1).any():
        raise ValueError(f"class_counts must be an int >= 1 or {num_classes} ints >= 1 (one per center); "
                         f"got {class_counts!r} instead.")
    covs = _check_cov(cov, num_classes, dim)
    rng = np.random.default_rng(check_random_state(random_state))
    xs = [centers[c] + rng.standard_normal((n, dim)) @ np.linalg.cholesky(covs[c]).T for c, n in enumerate(counts)]
    return np.concatenate(xs).astype(np.float32), np.repeat(np.arange(num_classes, dtype=np.int64), counts)


def make_multimodal_rare(n_majority: int = 600, n_rare: int = 30, n_clusters: int = 4, random_state=None, *,
                         return_clusters: bool = False):
    """A majority (y=0) of ``n_clusters`` blobs N(., 0.7^2 I) on a circle of radius 3 around a rare class (y=1)
    N(0, 0.5^2 I) (notebook 04): no line separates it, each cluster against it nearly does, the structure COG
    exploits (Wu, Xiong & Chen, DMKD 2010); ``return_clusters``: each point's cluster too (-1: rare)."""
    n_majority = check_positive_int(n_majority, name="n_majority")
    n_rare = check_positive_int(n_rare, name="n_rare")
    n_clusters = check_positive_int(n_clusters, name="n_clusters")
    if n_clusters > n_majority:
        raise ValueError(f"n_clusters must be <= n_majority ({n_majority}); got {n_clusters} instead.")
    per_cluster = [n_majority // n_clusters + (k < n_majority % n_clusters) for k in range(n_clusters)]
    angles = 2 * np.pi * np.arange(n_clusters) / n_clusters
    centers = np.vstack([3.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1), np.zeros((1, 2))])
    X, comp = make_gaussian_mixture(per_cluster + [n_rare], centers, cov=[0.7**2] * n_clusters + [0.5**2],
                                    random_state=random_state)
    y = (comp == n_clusters).astype(np.int64)
    return (X, y, np.where(y == 1, -1, comp).astype(np.int64)) if return_clusters else (X, y)


@dataclass
class GaussianBinaryProblem:
    """X | y ~ N(mu_y, cov), P(y = 1) = positive_rate = p: the Bayes rules in closed form (notebook 05).

    log eta/(1 - eta) = w.x + b, w = cov^-1 (mu1 - mu0), b = -(mu1' cov^-1 mu1 - mu0' cov^-1 mu0)/2 + log(p/(1-p)).
    A rule w.x + b > t with t' = t - log(p/(1-p)) and Mahalanobis distance D has TPR = Phi((D^2/2 - t')/D),
    TNR = Phi((D^2/2 + t')/D); the balanced-accuracy rule (t' = 0) scores Phi(D/2) (Menon et al., ICML 2013).
    """

    mu0: np.ndarray
    mu1: np.ndarray
    cov: np.ndarray
    positive_rate: float

    def __post_init__(self):
        self.mu0 = np.asarray(self.mu0, dtype=np.float64).reshape(-1)
        self.mu1 = np.asarray(self.mu1, dtype=np.float64).reshape(-1)
        self.dim = self.mu0.shape[0]
        if self.mu1.shape != self.mu0.shape:
            raise ValueError(f"mu1 must have the same length as mu0 ({self.dim}); got {self.mu1.shape[0]} instead.")
        self.cov = _check_cov(self.cov, 1, self.dim)[0]
        p = self.positive_rate = check_probability(self.positive_rate, name="positive_rate", inclusive_low=False,
                                                   inclusive_high=False)
        prec, d = np.linalg.inv(self.cov), self.mu1 - self.mu0
        self.weights, self.mahalanobis = prec @ d, float(math.sqrt(d @ prec @ d))
        self.prior_log_odds = math.log(p / (1 - p))
        self.bias = -0.5 * (self.mu1 @ prec @ self.mu1 - self.mu0 @ prec @ self.mu0) + self.prior_log_odds

    def log_odds(self, X) -> np.ndarray:
        """w.x + b = log eta(x) / (1 - eta(x))."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must be an N x {self.dim} array; got shape {X.shape} instead.")
        return X @ self.weights + self.bias

    def eta(self, X) -> np.ndarray:
        """P(y = 1 | x), the true posterior."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(X)))

    def _shift(self, metric: str) -> float:
        # the Bayes rule's threshold on the log-odds: eta > 1/2 is log-odds > 0, eta > p is log-odds > log(p/(1-p))
        metric = check_choice(metric, ["accuracy", "balanced_accuracy"], name="metric")
        return self.prior_log_odds if metric == "balanced_accuracy" else 0.0

    def predict(self, X, metric: str = "balanced_accuracy") -> np.ndarray:
        """The Bayes-optimal labels for ``metric`` ("balanced_accuracy": eta > p; "accuracy": eta > 1/2)."""
        return (self.log_odds(X) - self._shift(metric) > 0).astype(np.int64)

    def balanced_accuracy(self, metric: str = "balanced_accuracy") -> float:
        """Exact balanced accuracy (TPR + TNR) / 2 of the Bayes rule for ``metric``."""
        t, d = self._shift(metric) - self.prior_log_odds, self.mahalanobis
        return 0.5 * (NormalDist().cdf((d * d / 2 - t) / d) + NormalDist().cdf((d * d / 2 + t) / d))

    def sample(self, n_samples: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` i.i.d. points: y ~ Bernoulli(p) (the number of positives ~ Binomial(n, p), kept in [1, n - 1]
        so both classes occur), x | y ~ N(mu_y, cov). A fixed round(n p) would make p_hat = p exactly: the plug-in
        rule's estimated threshold (notebook 05) would never be estimated."""
        n_samples = check_positive_int(n_samples, name="n_samples", minimum=2)
        rng = np.random.default_rng(check_random_state(random_state))
        n_pos = int(np.clip(rng.binomial(n_samples, self.positive_rate), 1, n_samples - 1))
        return make_gaussian_mixture([n_samples - n_pos, n_pos], np.stack([self.mu0, self.mu1]), cov=self.cov,
                                     random_state=int(rng.integers(2**63)))


def make_imbalanced_gaussians(n_samples: int = 1000, positive_rate: float = 0.05, separation: float = 2.0,
                              dim: int = 2, random_state=None, *, return_problem: bool = False):
    """X | y ~ N(+-separation/2 e_1, I), P(y=1) = positive_rate: Bayes balanced accuracy Phi(separation/2);
    ``return_problem`` also returns the ``GaussianBinaryProblem`` (notebook 05)."""
    mu = np.zeros(check_positive_int(dim, name="dim"))
    mu[0] = check_number(separation, name="separation", strict=True) / 2
    problem = GaussianBinaryProblem(-mu, mu, np.eye(mu.shape[0]), positive_rate)
    X, y = problem.sample(n_samples, random_state)
    return (X, y, problem) if return_problem else (X, y)


def _check_cov(cov, num_classes: int, dim: int) -> np.ndarray:
    """C x d x d covariances from a variance, C variances, one d x d matrix or C of them."""
    try:
        arr = np.asarray(cov, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"cov must be a number or an array of numbers; got {cov!r} instead.") from None
    if not np.all(np.isfinite(arr)):  # before broadcasting: inf * the identity's zeros would be NaN
        raise ValueError("cov must be finite; got non-finite entries instead.")
    if arr.ndim == 0 or arr.shape == (num_classes,):
        covs = arr.reshape(-1, 1, 1) * np.eye(dim) + np.zeros((num_classes, 1, 1))
    elif arr.shape in ((dim, dim), (num_classes, dim, dim)):
        covs = np.broadcast_to(arr, (num_classes, dim, dim)).copy()
    else:
        raise ValueError(f"cov must be a variance, {num_classes} variances, a {dim}x{dim} matrix or {num_classes} "
                         f"such matrices; got shape {arr.shape} instead.")
    for c in range(num_classes):
        if not np.allclose(covs[c], covs[c].T) or np.linalg.eigvalsh(covs[c]).min() <= 0:
            raise ValueError(f"cov must be symmetric positive definite; got a matrix for class {c} that is not "
                             "instead.")
    return covs
