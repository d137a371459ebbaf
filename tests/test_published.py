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


def test_the_project_models_sensitivity_is_set_beside_the_published_median():
    import xe_likelihood

    table = np.asarray(xe_likelihood.xenon1t_published, float)
    at_50 = float(np.exp(np.interp(np.log(50.0), np.log(table[:, 0]), np.log(table[:, 4]))))
    rows = [{"mass_gev": m, "test": "likelihood", "live_days": 351.0, "limit_cm2": [v / 4, v / 2, v, 2 * v, 4 * v],
             "limit_median_error_cm2": v / 10} for m, v in ((50.0, 2 * at_50), (500.0, 1e-45))]
    rows.append({**rows[0], "live_days": 34.2})  # another exposure: left out
    evaluation = {"sensitivity_live_days": 351.0, "reference_live_days": 34.2, "sensitivity": rows}
    found = published.project_model_rows(evaluation)
    assert [r["mass_gev"] for r in found] == [50.0, 500.0]
    assert found[0]["ratio_to_published_median"] == pytest.approx(2.0)
    assert found[0]["median_error_cm2"] == pytest.approx(2 * at_50 / 10)
    comparison = published.LimitComparison(np.array([10.0, 50.0, 500.0]), np.ones(3) * 1e-46, np.ones(3) * 1e-46,
                                           np.tile([0.5e-46, 0.7e-46, 1e-46, 1.4e-46, 2e-46], (3, 1)), "test", 220.0)
    figure = published.project_model_figure(evaluation, comparison)
    assert figure.axes[0].get_yscale() == "log" and len(figure.axes[1].lines) >= 1
    with pytest.raises(ValueError, match="--sensitivity-live-days 351"):
        published.project_model_rows({"reference_live_days": 34.2, "sensitivity": []})
    # with the expected WIMP events: XENON1T's own for the same spectrum beside them
    xenon1t_50 = published.xenon1t_signal_events(50.0, 1e-45)
    assert 100 < xenon1t_50 < 371  # below the 371 events per t yr the spectrum holds (efficiency < 1)
    assert published.xenon1t_signal_events(6.0, 1e-45) < 0.01 * xenon1t_50  # a 6 GeV WIMP: mostly below threshold
    rows[0].update(expected_wimp=2 * xenon1t_50, cross_section_cm2=1e-45)
    first = published.project_model_rows(evaluation)[0]
    assert first["signal_ratio"] == pytest.approx(2.0) and first["ratio_at_equal_signal"] == pytest.approx(4.0)
