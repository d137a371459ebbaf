"""Detector registry (pluggy entry points), configs and clear errors for bad input."""

import json
import shutil
import textwrap
import tomllib
from pathlib import Path

import pytest

import ddcore
from ddcore.plugins import UnknownRunError
from tests.helpers import run_command, run_python

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example_detector"


def install_example_detector(root):
    """Install docs/example_detector as pip would for a pure-Python package: the package on the
    path and a dist-info holding the entry points of its pyproject.toml."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    shutil.copytree(EXAMPLE / "minitpc", root / "minitpc")
    dist_info = root / f"{project['name']}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [f"[{group}]" + "".join(f"\n{k} = {v}" for k, v in entries.items())
             for group, entries in project["entry-points"].items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_builtin_detectors_listed():
    assert "xenon1t" in ddcore.detectors()


def test_third_party_detector_via_entry_point(tmp_path):
    install_example_detector(tmp_path)
    code = textwrap.dedent(
        f"""
        import ddcore
        assert "minitpc" in ddcore.detectors(), ddcore.detectors()
        st = ddcore.context("minitpc", storage={str(tmp_path / 'store')!r}, sim_n_events=20,
                            sim_events_per_chunk=20)
        basics = st.get_array("er_run1_000", "event_basics", progress_bar=False)
        pb = st.get_single_plugin("er_run1_000", "peak_basics")
        n_pmts = st.get_single_plugin("er_run1_000", "peaks").n_pmts
        print("RESULT", type(pb).__name__, pb.s1_min_channels, len(basics), n_pmts)
        """
    )
    stdout = run_python(code, env_extra={"PYTHONPATH": str(tmp_path)}).stdout
    out = [line for line in stdout.splitlines() if line.startswith("RESULT")][0].split()[1:]
    assert out[0] == "StrictPeakBasics" and out[1] == "4"
    assert int(out[2]) > 10
    assert int(out[3]) < 248


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(ddcore.UnknownDetectorError, match="'lux'.*xenon1t"):
        ddcore.context("lux")


def test_unknown_run_names_the_run(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path))
    with pytest.raises(UnknownRunError, match="'calibration_7'"):
        st.get_array("calibration_7", "raw_records")
    with pytest.raises(UnknownRunError, match="preset 'sr1'.*'sr0'"):
        st.get_array("er_sr1_000", "instructions")


def test_unknown_data_type_names_it(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path))
    with pytest.raises(KeyError, match="event_pictures"):
        st.get_array("er_sr0_000", "event_pictures")


def test_unknown_option_argument_is_refused(tmp_path):
    with pytest.raises(ddcore.ConfigError, match="electron_lifetime"):
        ddcore.context("xenon1t", storage=str(tmp_path), electron_lifetime=400)


@pytest.mark.parametrize(
    "content, message",
    [
        ("[drift]\nelectron_life_us = 400.0\n", "key 'electron_life_us'.*unknown option"),
        ("[drift]\nelectron_lifetime_us = \"long\"\n", "key 'electron_lifetime_us'.*must be float"),
        ("[drift\nelectron_lifetime_us = 1\n", "not valid TOML"),
        ("[presets.sr0]\nsim_n_events = 1.5\n", "preset 'sr0' key 'sim_n_events'.*must be int"),
    ],
)
def test_malformed_config_names_file_and_key(tmp_path, content, message):
    path = tmp_path / "broken.toml"
    path.write_text(content)
    with pytest.raises(ddcore.ConfigError, match=message) as error:
        ddcore.context("xenon1t", storage=str(tmp_path), config_file=path)
    assert "broken.toml" in str(error.value)


def test_presets_change_options_and_lineage(tmp_path):
    sr0 = ddcore.context("xenon1t", storage=str(tmp_path))
    sr1 = ddcore.context("xenon1t", storage=str(tmp_path), preset="sr1")
    assert sr1.config["electron_lifetime_us"] == 600.0
    assert sr0.key_for("er_sr0_000", "event_basics").lineage_hash != sr1.key_for(
        "er_sr1_000", "event_basics"
    ).lineage_hash


@pytest.mark.slow
def test_the_detector_guide_walk_through(tmp_path):
    """docs/writing_a_detector.md, step by step, on the example detector: list, make, read back,
    train and calibrate its own models, score its events."""
    install_example_detector(tmp_path / "site")
    env = {"PYTHONPATH": str(tmp_path / "site")}

    def ddcore_cli(*args, check=True):
        return run_command(*args, "--data", "minitpc_data", cwd=tmp_path, env_extra=env, check=check) \
            if args[0] != "detectors" else run_command(*args, cwd=tmp_path, env_extra=env)

    assert "minitpc" in ddcore_cli("detectors").stdout
    ddcore_cli("make", "er_run1_000", "event_basics", "-d", "minitpc", "--set", "sim_n_events=30", "--no-progress")
    read_back = run_python(
        "import ddcore; st = ddcore.context('minitpc', storage='minitpc_data'); "
        "print('ROWS', len(st.get_df('er_run1_000', 'event_basics', progress_bar=False)))",
        env_extra={**env, "PYTHONPATH": str(tmp_path / "site")}, cwd=tmp_path)
    assert 20 <= int(read_back.stdout.split("ROWS")[1]) <= 30
    missing = ddcore_cli("make", "er_run1_001", "anomaly_scores", "-d", "minitpc", "--no-progress", check=False)
    assert missing.returncode == 2 and "Option 'anomaly_calibration_file' is not set" in missing.stderr
    # the rest trains models: it needs the ml extra (make test-strax-oldest installs strax's side only)
    pytest.importorskip("keras", reason="the ml extra is not installed: pip install '.[ml]'")
    small = ["--events", "60", "--validation-events", "30", "--epochs", "1"]
    ddcore_cli("train", "cnn", "-d", "minitpc", *small, "--layers", "1", "-o", "models/minitpc_cnn_hitpeak.keras")
    ddcore_cli("train", "cvae", "-d", "minitpc", *small, "-o", "models/minitpc_cvae_hitpeak.keras")
    ddcore_cli("train", "calibrate", "-d", "minitpc", "--events", "60", "--cnn", "models/minitpc_cnn_hitpeak.keras",
               "--cvae", "models/minitpc_cvae_hitpeak.keras", "-o", "models/minitpc_anomaly_calibration.json")
    assert json.loads((tmp_path / "models" / "minitpc_cnn_hitpeak.json").read_text())["detector"] == "minitpc"
    scored = ddcore_cli("make", "er_run1_001", "anomaly_scores", "-d", "minitpc", "--no-progress",
                        "--set", "cnn_model_file=models/minitpc_cnn_hitpeak.keras",
                        "--set", "cvae_model_file=models/minitpc_cvae_hitpeak.keras",
                        "--set", "anomaly_calibration_file=models/minitpc_anomaly_calibration.json")
    assert "er_run1_001: anomaly_scores stored as" in scored.stdout
