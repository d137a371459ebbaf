"""The published XENON1T SI limit through the collaboration's binwise likelihood (xe-likelihood)
with the project's wimprates spectra."""

import numpy as np
import pytest

pytest.importorskip("xe_likelihood", reason="the published extra is not installed: pip install '.[published]'")

from ddplugins.search import published  # noqa: E402
from ddplugins.simulation import spectra  # noqa: E402
from tests.helpers import run_command  # noqa: E402


@pytest.fixture(scope="module")
def inference():
    import xe_likelihood

    return xe_likelihood.BinwiseInference.from_xenon1t_sr()


def test_the_limit_scales_with_the_spectrum_and_the_threshold(inference):
    energies, rates = spectra.wimp_spectrum_table(50.0, 1e-45, n=4000)
    once = published.binwise_upper_limit(inference, energies, rates, neyman=False)
    twice = published.binwise_upper_limit(inference, energies, 2 * rates, neyman=False)
    assert twice == pytest.approx(once / 2, rel=0.01)
    # a looser confidence level, a lower limit
    assert published.binwise_upper_limit(inference, energies, rates, neyman=False, confidence_level=0.68) < once


def test_xenon1t_limit_at_high_masses_is_the_published_one():
    comparison = published.xenon1t_limits((50, 1000))
    assert np.all(np.abs(comparison.ratios - 1) < published.GOAL), comparison.rows()
    assert np.all(comparison.published_bands[:, 0] < comparison.published_bands[:, 4])


def test_published_command_writes_table_and_figure(tmp_path):
    out = run_command("published", "--masses", "20,200", "-o", "pub", cwd=tmp_path).stdout
    assert "v0_238_ratio" in out and (tmp_path / "pub" / "xenon1t_si_limits.png").stat().st_size > 20_000
    assert (tmp_path / "pub" / "xenon1t_si_limits.csv").read_text().count("\n") == 3
