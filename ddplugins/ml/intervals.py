"""Exact binomial intervals, for the plugins' anomaly fractions and the analyses' rates."""

from scipy import stats


def clopper_pearson(k, n, level=0.6827):
    """Exact binomial interval of k successes in n trials."""
    alpha = 1 - level
    low = stats.beta.ppf(alpha / 2, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)
