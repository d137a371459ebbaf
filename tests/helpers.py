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
TINY_EVENTS = 150  # events per run of the tiny models' training and calibration
TINY_STRATUM_EVENTS = 100


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


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_or_skip():
    """The headless browser's path; skips the test where there is none."""
    import shutil

    import pytest

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where it can)")
    return chromium


def browser_dom(url, profile_dir, wait_ms=10_000):
    """The DOM of ``url`` once headless chromium has run its scripts (up to ``wait_ms`` of
    virtual time), and the page's console messages."""
    result = subprocess.run([chromium_or_skip(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
                             "--enable-logging=stderr", "--v=0", f"--virtual-time-budget={wait_ms}", "--dump-dom",
                             str(url)], capture_output=True, text=True, timeout=300)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def console_errors(console):
    """The console messages that are errors (chromium logs them at ERROR level, or uncaught)."""
    return [line for line in console if "ERROR:CONSOLE" in line or "Uncaught" in line]
