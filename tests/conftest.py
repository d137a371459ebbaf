import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ddcore

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Small runs: enough events for figures within a few percent, fast enough for CI.
SMALL_RUN_OPTIONS = dict(sim_n_events=120, sim_events_per_chunk=40)
ER_RUN, WIMP_RUN = "er_sr0_001", "wimp_sr0_002"


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dd_store")


@pytest.fixture(scope="session")
def make_context(store_dir):
    def make(**options):
        return ddcore.context("xenon1t", storage=str(store_dir), **{**SMALL_RUN_OPTIONS, **options})

    return make


@pytest.fixture(scope="session")
def st(make_context):
    context = make_context()
    for run_id in (ER_RUN, WIMP_RUN):
        context.make(run_id, ["event_images", "event_basics", "event_truth"], progress_bar=False)
    return context


@pytest.fixture(scope="session")
def er_events(st):
    return st.get_df(ER_RUN, ["event_basics", "event_truth"], progress_bar=False)


@pytest.fixture(scope="session")
def wimp_events(st):
    return st.get_df(WIMP_RUN, ["event_basics", "event_truth"], progress_bar=False)


def run_python(code, env_extra=None, check=True):
    """Run code in a fresh interpreter (as another process would) and return its stdout."""
    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def array_digest(array):
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
