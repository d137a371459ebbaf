"""A smoke test per command: each runs for real, on tiny runs, as a user would type it."""

import json

import pytest

from tests.helpers import REPOSITORY, run_command

pytestmark = pytest.mark.slow

TINY = ["--set", "sim_n_events=40", "--set", "sim_events_per_chunk=20"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("commands")


def ddcore(workdir, *args):
    return run_command(*args, cwd=workdir, env_extra={"DD_DATA": str(workdir / "store")})


def test_detectors(workdir):
    out = ddcore(workdir, "detectors").stdout
    assert "xenon1t" in out and "newsdm" in out and "presets: sr0, sr1" in out


def test_make_and_info(workdir):
    out = ddcore(workdir, "make", "er_sr0_000", "event_basics", *TINY).stdout
    assert "er_sr0_000: event_basics stored as er_sr0_000-event_basics-" in out
    info = ddcore(workdir, "info", "er_sr0_000", *TINY).stdout
    assert "event_basics" in info and "complete, matches current options" in info


def test_batch(workdir):
    out = ddcore(workdir, "--quiet", "batch", "make", "er_sr0_001", "event_basics", "--workers", "1", *TINY).stdout
    assert "er_sr0_001" in out and "made" in out


def test_show(workdir):
    out = ddcore(workdir, "show", "er_sr0_000", "0", "-o", "event.png", *TINY).stdout
    assert "drawn in event.png" in out and (workdir / "event.png").stat().st_size > 1000
    out = ddcore(workdir, "show", "er_sr0_000", "0", "--html", "-o", "event.html", *TINY).stdout
    html = (workdir / "event.html").read_text()
    assert "drawn in event.html" in out and "Bokeh" in html and "cdn.bokeh.org" not in html


def test_validate_sim(workdir):
    out = ddcore(workdir, "validate-sim", "--events", "40", "-o", "validation").stdout
    assert "g1_measured" in out and "ER rejection at 50% WIMP acceptance" in out
    assert (workdir / "validation" / "bands.png").exists()
    assert "Table I" in out and "wimprates integral" in out and "effective cross-section" in out
    assert (workdir / "validation" / "populations.png").exists()


def test_train_and_grid_search(workdir):
    ddcore(workdir, "train", "cnn", "--events", "40", "--validation-events", "20", "--epochs", "1",
           "--layers", "1", "-o", "models/cnn.keras")
    manifest = json.loads((workdir / "models" / "cnn.json").read_text())
    assert manifest["kind"] == "cnn" and manifest["detector"] == "xenon1t"
    out = ddcore(workdir, "grid-search", "--events", "40", "--layers", "1", "--epochs", "1",
                 "--batch-sizes", "32", "-o", "grid.csv").stdout
    assert "roc_auc" in out and (workdir / "grid.csv").exists()


def test_evaluate_report_and_demo(workdir):
    fast = ["--bootstraps", "3"]  # the errors of the significances, from fewer template resamples
    out = ddcore(workdir, "evaluate", "--events", "40", "--train-events", "40", "-o", "evaluation", *fast,
                 "--wall-tail-events", "200").stdout
    assert "cS2/cS1 band cut" in out and (workdir / "evaluation" / "evaluation.json").exists()
    assert "spread over 3 template bootstraps" in out
    wall = json.loads((workdir / "evaluation" / "evaluation.json").read_text())["wall_template"]
    assert wall["run"] == "walltail_sr0_500000200" and wall["events"] == 200 and 0 < wall["share"] < 1
    assert wall["stands_for_wall_events"] == round(200 / wall["share"]) and f"events of {wall['run']}" in out
    short = ["--set", "sim_exposure_live_days=0.5"]  # a pseudo run of ~150 events
    out = ddcore(workdir, "report", "--events", "40", "--train-events", "40", "-o", "evaluation", *short,
                 *fast, "--toys", "12", "--workers", "2", "--sensitivity", "50", "--sensitivity-cs1-slices", "2",
                 "--sensitivity-seeds", "2").stdout
    assert "Report:" in out and (workdir / "evaluation" / "report.html").exists()
    assert "Toy Monte Carlo at" in out and out.count("90% CL coverage") == 3
    toys = json.loads((workdir / "evaluation" / "evaluation.json").read_text())["toys"]
    assert [t["test"] for t in toys] == ["likelihood", "anomaly_fraction", "anomaly_score_likelihood"]
    assert all(t["n_toys"] == 12 and 0 <= t["coverage_profile"] <= 1 for t in toys)
    html = (workdir / "evaluation" / "report.html").read_text()
    assert "Toy Monte Carlo: do the p-values" in html and "Sensitivity against WIMP mass" in html
    assert "walltail" not in html  # the wall template from the wall run unless asked
    assert out.count("    50 GeV ") == 10 and "cut_and_count" in out and "likelihood_cs1" in out
    spread = json.loads((workdir / "evaluation" / "evaluation.json").read_text())["sensitivity_seed_spread"]
    assert len(spread) == 5 and all(len(r["medians_cm2"]) == 2 for r in spread)
    assert "Median limit [cm^2] of 2 independent sets of simulated templates" in out
    assert "Sensitivity: seed-to-seed spread" in (workdir / "evaluation" / "report.html").read_text()
    # `make demo`'s configuration, with the command line overriding its events, bootstraps and toys
    out = ddcore(workdir, "demo", "--config", str(REPOSITORY / "configs" / "demo.toml"), "--events", "40",
                 "-o", "demo", *short, *fast, "--toys", "6").stdout
    assert "Pseudo-data pseudo_sr0_000" in out and "Truth of the analysis-space events" in out
    assert "(all categories)" in out and (workdir / "demo" / "report.html").exists()


def test_newsdm(workdir):
    ddcore(workdir, "newsdm", "train", "--tracks", "60", "--epochs", "1", "-o", "models/newsdm.keras")
    assert json.loads((workdir / "models" / "newsdm.json").read_text())["kind"] == "newsdm_cnn3d"
    out = ddcore(workdir, "newsdm", "evaluate", "--model", "models/newsdm.keras",
                 "--signal-tracks", "20", "--background-tracks", "30").stdout
    assert "fog" in out and "ROC AUC" in out


def test_bad_input_is_a_named_error_not_a_traceback(workdir):
    result = run_command("make", "er_sr0_000", "event_basics", "--set", "sim_n_event=3",
                         check=False, cwd=workdir)
    assert result.returncode == 2
    assert "unknown option 'sim_n_event'" in result.stderr and "Traceback" not in result.stderr


def test_blind_and_unblind(workdir):
    ddcore(workdir, "make", "er_sr0_000", "event_basics", *TINY)
    out = ddcore(workdir, "blind", "er_sr0_000", *TINY).stdout
    assert "er_sr0_000: blinded" in out
    assert "Blinding: blinded (blinding_region; last: blind" in ddcore(workdir, "info", "er_sr0_000", *TINY).stdout
    refused = run_command("unblind", "er_sr0_000", *TINY, cwd=workdir, check=False,
                          env_extra={"DD_DATA": str(workdir / "store")})
    assert refused.returncode != 0 and "--reason" in refused.stderr
    out = ddcore(workdir, "unblind", "er_sr0_000", "--reason", "analysis fixed", *TINY)
    assert "er_sr0_000: unblinded" in out.stdout and "UNBLINDED" in out.stderr
