"""Helpers shared by the tests (fixtures live in conftest.py)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"

# Small runs: enough events for figures within a few percent, fast enough for CI.
# pseudo runs of 0.5 live days: ~150 events, mostly S2-only and wall events
SMALL_RUN_OPTIONS = dict(sim_n_events=120, sim_events_per_chunk=40, sim_exposure_live_days=0.5)
ER_RUN, WIMP_RUN = "er_sr0_001", "wimp_sr0_002"


def run_python(code, env_extra=None, check=True, timeout=600, cwd=None):
    """Run code in a fresh interpreter (as another process would) and return the result."""
    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd
    )
    if check and result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def run_command(*args, check=True, cwd=None, env_extra=None, timeout=900):
    """Run ``python -m ddcore ARGS`` and return the completed process."""
    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, "-m", "ddcore", *map(str, args)], capture_output=True, text=True,
        env=env, cwd=cwd, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"ddcore {' '.join(map(str, args))} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    return result


def array_digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
