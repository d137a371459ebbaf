"""The XENONnT 2024 light-WIMP search (arXiv:2409.17868) reproduced from its public data release
with the project's pyhf model. The release is reference data: read from ../shared/data, skipped
when absent, never copied into the project."""

import importlib.util
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("h5py", reason="the published extra is not installed: pip install '.[published]'")

from ddplugins.search import light_wimp, toys  # noqa: E402
from tests.helpers import run_command  # noqa: E402

RELEASE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "xenonnt_light_wimp")
pytestmark = pytest.mark.skipif(not os.path.isdir(RELEASE), reason="../shared/data/xenonnt_light_wimp is absent")


@pytest.fixture(scope="module")
def release():
    return light_wimp.read_release(RELEASE)


def test_the_release_holds_the_papers_events_exposure_and_backgrounds(release):
    assert release.observed["sr0"].sum() == 9 and release.observed["sr1"].sum() == 28
    assert release.livetimes["sr0"] + release.livetimes["sr1"] == pytest.approx(3.51, abs=0.01)
    expected = {source: sum(release.template(sr, source).sum() * release.livetimes[sr]
                            for sr in light_wimp.SCIENCE_RUNS) for source in light_wimp.BACKGROUNDS}
    # the paper's expectations in the search region: 11.9 B8 CEvNS events, 25.3 accidental coincidences
    assert expected["b8"] == pytest.approx(11.9, abs=0.1)
    assert expected["ac"] == pytest.approx(25.3, abs=0.2)
    assert release.masses_gev == (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)


def test_the_workspace_fits_its_own_background_expectation_to_no_signal(release):
    import pyhf

    model, data = light_wimp._model_and_data(release, 8.0)
    assert set(model.config.channels) == {"sr0", "sr1"}
    assert {"mu", "signal_efficiency", "t_ly", "t_qy", "b8_rate", "ac_sr0_rate", "ac_sr1_rate"} <= set(
        model.config.parameters)
    assert len(data) == 2 * 81 + len(model.config.auxdata)
    backend, optimizer = pyhf.get_backend()  # other tests leave MINUIT set; this fit is scipy's
    pyhf.set_backend(backend, pyhf.optimize.scipy_optimizer())
    try:
        best = pyhf.infer.mle.fit(light_wimp._asimov_background(model), model)
    finally:
        pyhf.set_backend(backend, optimizer)
    assert best[model.config.poi_index] == pytest.approx(0.0, abs=1e-3)


def test_asymptotic_median_sensitivity_and_limit_match_the_published_ones(release):
    result = light_wimp.asymptotic_limits(release, (6.0, 12.0))
    assert np.all(np.abs(result.median / result.published_at("median") - 1) < light_wimp.GOAL), result.rows()
    assert np.all(np.abs(result.unconstrained / result.published_at("unconstrained") - 1) < 0.4), result.rows()
    assert np.all(np.diff(result.sensitivity, axis=1) > 0)
    # power constraint: never below the -1 sigma sensitivity
    assert np.all(result.limit >= result.sensitivity[:, 1])


def test_the_interval_ends_where_the_statistic_crosses_the_critical_values():
    strengths = np.array([1.0, 2.0, 4.0, 8.0])
    critical = np.full(4, 2.0)
    # crosses between 2 and 4, linearly in log(strength): halfway at sqrt(8)
    assert toys.crossing(np.array([0.0, 1.0, 3.0, 9.0]), critical, strengths, 0.0) == pytest.approx(np.sqrt(8))
    # a statistic above the critical value below the fitted strength is the interval's lower end, not its upper
    assert toys.crossing(np.array([5.0, 1.0, 3.0, 9.0]), critical, strengths, 1.5) == pytest.approx(np.sqrt(8))
    assert toys.crossing(np.zeros(4), critical, strengths, 0.0) == 8.0


def test_neyman_construction_runs_on_few_toys(release):
    result = light_wimp.neyman_limits(release, (12.0,), n_toys=12, grid_points=6)
    assert result.method == "Neyman (12 toys)"
    assert np.all(np.diff(result.sensitivity, axis=1) >= 0)
    assert result.median_error[0] > 0
    # a crude belt, but the median sensitivity lands within a factor 3 of the published one
    assert 1 / 3 < result.median[0] / result.published_at("median")[0] < 3


def test_a_broken_release_gets_a_named_error(tmp_path, release):
    broken = tmp_path / "release"
    shutil.copytree(RELEASE, broken, ignore=shutil.ignore_patterns("wimp_si", "b8", "rg"))
    with pytest.raises(light_wimp.ReleaseError, match="wimp_si"):
        light_wimp.read_release(broken)
    with pytest.raises(light_wimp.ReleaseError, match="No light-WIMP data release"):
        light_wimp.read_release(tmp_path / "nowhere")
    with pytest.raises(light_wimp.ReleaseError, match=r"No WIMP templates for \[7.0\] GeV"):
        light_wimp.asymptotic_limits(release, (7.0,))


def test_an_event_outside_the_analysis_space_is_named(tmp_path):
    copy = tmp_path / "release"
    os.makedirs(copy)
    for name in os.listdir(RELEASE):
        os.symlink(os.path.join(os.path.abspath(RELEASE), name), copy / name)
    os.remove(copy / "real_data_sr1.csv")
    with open(os.path.join(RELEASE, "real_data_sr1.csv")) as f:
        lines = f.read().splitlines()
    lines[3] = "50.0," + lines[3].split(",", 1)[1]  # a cS2 below the 90 PE threshold
    (copy / "real_data_sr1.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(light_wimp.ReleaseError, match=r"real_data_sr1.csv: rows \[2\] lie outside"):
        light_wimp.read_release(copy)


def test_published_command_writes_the_light_wimp_comparison(tmp_path):
    out = tmp_path / "published"
    result = run_command("published", "--no-xenon1t", "--light-wimp-release", RELEASE, "--light-wimp-masses", "10",
                         "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "median_ratio" in result.stdout
    for suffix in ("csv", "json", "png"):
        assert (out / f"xenonnt_light_wimp_si_limits.{suffix}").stat().st_size > 0


def test_the_alea_model_names_the_templates_of_its_mass(tmp_path):
    from ddplugins.search import alea_cross_check

    config = alea_cross_check.model_config(RELEASE, 8.0, tmp_path / "cache")
    assert config["likelihood_config"]["template_folder"] == os.path.abspath(RELEASE)
    sources = [source for term in config["likelihood_config"]["likelihood_terms"] for source in term["sources"]]
    wimp = [source["template_filename"] for source in sources if source["name"] == "wimp"]
    assert wimp == [f"wimp_si/template_XENONnT_{sr}_wimp_si_8_cevns_tly_{{t_ly:.1f}}_tqy_{{t_qy:.1f}}.h5"
                    for sr in ("sr0", "sr1")]
    # blueice neither reads nor writes its pickled template cache
    assert all(source["force_recalculation"] and source["never_save_to_cache"] for source in sources)
    # one anchor template missing: the model is refused naming the file, before alea reads any
    copy = tmp_path / "release"
    os.makedirs(copy / "rg")
    for name in os.listdir(RELEASE):
        if name != "rg":
            os.symlink(os.path.join(os.path.abspath(RELEASE), name), copy / name)
    for name in os.listdir(os.path.join(RELEASE, "rg")):
        if name != "template_XENONnT_sr1_rg_cevns_tly_2.0_tqy_-3.0.h5":
            os.symlink(os.path.join(os.path.abspath(RELEASE), "rg", name), copy / "rg" / name)
    with pytest.raises(light_wimp.ReleaseError, match="template_XENONnT_sr1_rg_cevns_tly_2.0_tqy_-3.0.h5"):
        alea_cross_check.model_config(copy, 8.0, tmp_path / "cache")


def test_alea_and_the_pyhf_model_find_the_same_limit(release):
    """The collaboration's own model in alea and the project's pyhf reproduction, same data, same
    asymptotic statistic: at 8 GeV, where the yield-nuisance approximation matters little, the
    limits agree to 5%; the fitted signal is (essentially) zero in both."""
    if importlib.util.find_spec("alea") is None:  # not importorskip: alea needs the shim of alea_cross_check
        pytest.skip("the alea extra is not installed: pip install '.[alea]'")
    from ddplugins.search import alea_cross_check

    result = alea_cross_check.asymptotic_limits(release, (8.0,))
    row = result.rows()[0]
    assert row["pyhf_over_alea"] == pytest.approx(1.0, abs=0.05), row
    assert row["alea_fitted_cm2"] < 0.1 * row["alea_unconstrained_cm2"]
