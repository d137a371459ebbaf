"""The learnt background density of the anomaly score (ddplugins.ml.density)."""

import numpy as np
import pytest


def test_log_density_is_that_of_the_gaussian_mixture():
    """The stored mixture (standardisation, weights, means, Cholesky factors of the precisions)
    evaluates to the mixture's density in the original units, scipy's for the same Gaussians."""
    from scipy.stats import multivariate_normal

    from ddplugins.ml import density

    rng = np.random.default_rng(0)
    covariances = [np.array([[1.0, 0.6], [0.6, 2.0]]), np.array([[0.3, -0.1], [-0.1, 0.5]])]
    model = {
        "features": ["log10_s2_area", "r_squared_cm2"], "fill": [0.0, 0.0], "center": [2.0, 500.0],
        "scale": [0.5, 100.0], "weights": [0.7, 0.3], "means": [[0.0, 0.0], [1.5, -1.0]],
        "precision_cholesky": [np.linalg.cholesky(np.linalg.inv(c)).tolist() for c in covariances],
    }
    density.check(model, "test")
    x = np.full((50, len(density.FEATURES)), np.nan)
    x[:, 1], x[:, 5] = rng.normal(2.3, 0.6, 50), rng.normal(450, 120, 50)
    scale = np.diag(model["scale"])
    expected = np.logaddexp(*[
        np.log(w) + multivariate_normal(np.array(model["center"]) + scale @ m, scale @ c @ scale).logpdf(x[:, [1, 5]])
        for w, m, c in zip(model["weights"], model["means"], covariances)])
    # the density of the standardised features, as fitted: the original units' minus log |scale|
    np.testing.assert_allclose(density.log_density(x, model) - np.sum(np.log(model["scale"])), expected, rtol=1e-9)


def test_fit_leaves_out_what_a_category_lacks_and_fills_what_an_event_lacks():
    from ddplugins.ml import density
    from ddplugins.search.calibration_fit import fit_density

    rng = np.random.default_rng(1)
    n = 4000
    x = rng.normal(0, 1, (n, len(density.FEATURES)))
    x[:, 4] = np.nan                 # no drift time in the category (no S1)
    x[:10, 0] = np.nan               # a rare event without an S1 area
    weights = rng.choice([1.0, 3.0], n)
    model = fit_density(x, weights)
    assert "drift_time_us" not in model["features"] and "log10_s1_area" in model["features"]
    assert len(model["weights"]) >= 2 and np.isclose(sum(model["weights"]), 1)
    values = density.log_density(x, model)
    assert np.all(np.isfinite(values))
    # an event far outside the background is less dense than every background event
    odd = np.zeros((1, len(density.FEATURES)))
    odd[0, 1] = 8.0
    assert density.log_density(odd, model)[0] < values.min()


@pytest.mark.parametrize("change, message", [
    ({"features": ["no_such_feature"]}, "unknown features no_such_feature"),
    ({"precision_cholesky": [[[1.0, 0.0]]]}, "shapes of precision_cholesky"),
    ({"weights": None}, "NoneType"),
])
def test_a_malformed_density_is_named(change, message):
    from ddplugins.ml import density

    model = {"features": ["log10_s2_area"], "fill": [2.0], "center": [2.0], "scale": [0.5], "weights": [1.0],
             "means": [[0.0]], "precision_cholesky": [[[1.0]]]}
    with pytest.raises(ValueError, match=f"categories.no_s1: background density is malformed.*{message}"):
        density.check({**model, **change}, "categories.no_s1")
