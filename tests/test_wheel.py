"""A built wheel works as well as the checkout: installed into a fresh virtual environment,
without the machine-learning extra (no TensorFlow, Keras or scikit-learn), it makes a 20-event
run to event_basics with the packaged config, and asking for model scores says what to install."""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPOSITORY

pytestmark = pytest.mark.slow


# a machine that disables byte-compiling makes setuptools say so: not a warning about the package
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=1200,
                            env=ENV, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _warnings(output):
    # the machine's own pip configuration may warn about its local index folders: not ours
    return [line for line in output.splitlines() if "warning" in line.lower() and "Location 'file:" not in line]


def test_wheel_installs_and_runs_in_a_fresh_environment(tmp_path):
    build = _run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", REPOSITORY])
    assert not _warnings(build.stdout + build.stderr), _warnings(build.stdout + build.stderr)
    wheel = next((tmp_path / "dist").glob("ddcore-*.whl"))

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    install = _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel])
    assert not _warnings(install.stdout + install.stderr), _warnings(install.stdout + install.stderr)
    assert (venv / "bin" / "ddcore").exists() and not (venv / "bin" / "dd").exists()

    work = tmp_path / "work"  # not the checkout: only the installed wheel can be imported
    work.mkdir()
    made = _run([venv / "bin" / "ddcore", "make", "er_sr0_000", "event_basics", "--data", "store",
                 "--set", "sim_n_events=20", "--set", "sim_events_per_chunk=20", "--no-progress"], cwd=work)
    assert "er_sr0_000: event_basics stored as" in made.stdout
    check = _run([venv / "bin" / "python", "-c",
                  "import ddcore, ddplugins; st = ddcore.context('xenon1t', storage='store', sim_n_events=20, "
                  "sim_events_per_chunk=20); print(ddplugins.__file__); "
                  "print(len(st.get_array('er_sr0_000', 'event_basics', progress_bar=False)))"], cwd=work)
    location, rows = check.stdout.split()[-2:]
    assert str(venv) in location and int(rows) > 10
    detectors = _run([venv / "bin" / "python", "-m", "ddcore", "detectors"], cwd=work)
    assert {"xenon1t", "xenonnt", "newsdm"} <= set(detectors.stdout.split())
    missing = subprocess.run([venv / "bin" / "python", "-c", "import tensorflow"], capture_output=True, env=ENV)
    assert missing.returncode != 0, "the light install pulled TensorFlow"
    scores = subprocess.run([venv / "bin" / "ddcore", "make", "er_sr0_000", "cnn_scores", "--data", "store",
                             "--set", "sim_n_events=20", "--set", "sim_events_per_chunk=20", "--no-progress"],
                            cwd=work, capture_output=True, text=True, env=ENV, timeout=600)
    assert scores.returncode == 2 and "needs keras, part of the machine-learning extra: pip install 'ddcore[ml]'" \
        in scores.stderr, scores.stderr[-2000:]
