"""The peer: straxen's own XENONnT chain and this project's on the same raw_records.

Skipped unless straxen is installed (``make bench-peer`` makes ``.venv-peer`` with the ``peer``
extra and runs this file). straxen runs offline: every option that would read a database gets a
plain value (constant gains, one hit threshold, the simulated drift velocity), and the
neural-net position reconstruction is replaced by a top-array centroid (``CentroidPositions``,
cheaper than any fit; this project's event_basics does a likelihood fit of (x, y)).

Both chains read the same in-memory raw_records chunks (``DD_BENCH_PEER_EVENTS`` simulated
xenonnt ER events, default 2,000) to event_basics; the figure is MB of raw_records per second.
Two kinds of raw data: ``realistic``, the detector's defaults (dark counts, afterpulses,
photoionisation electrons, gain spread) with events 100 ms apart, so that most records are lone
dark-count hits as in a real detector's raw data; and ``clean``, all of those off.
"""

import os
import time

import numpy as np
import pytest

import ddcore
from benchmarks.conftest import InMemoryRawRecords
from ddplugins.records.records import to_pe_per_channel
from ddplugins.tpc._geometry import TOP
from ddplugins.tpc._options import pmt_table

straxen = pytest.importorskip("straxen")
from benchmarks._straxen_peer import straxen_context  # noqa: E402

EVENTS = int(os.environ.get("DD_BENCH_PEER_EVENTS", "2000"))
RUN = "er_sr0_810"
ROUNDS = 3
RAW_DATA = {
    "realistic": dict(sim_event_spacing_us=100_000),
    "clean": dict(pmt_dark_count_rate_hz=0, afterpulse_probability=0, photoionization_probability=0,
                  pmt_gain_spread=0),
}


@pytest.fixture(scope="module", params=list(RAW_DATA))
def nt_chunks(request):
    ours = ddcore.context("xenonnt", storage=[], sim_n_events=EVENTS, sim_events_per_chunk=250,
                          **RAW_DATA[request.param])
    chunks = list(ours.get_iter(RUN, "raw_records", progress_bar=False))
    pmts = pmt_table(ours.get_single_plugin(RUN, "peaks").config)
    return request.param, ours, chunks, pmts


def _straxen_context(ours, pmts):
    plugin_config = {**ours.get_single_plugin(RUN, "peaks").config,
                     **ours.get_single_plugin(RUN, "event_basics").config}
    to_pe = to_pe_per_channel(pmts, plugin_config["adc_per_pe"])
    return straxen_context(InMemoryRawRecords, pmts["x"], pmts["y"], int(np.sum(pmts["array"] == TOP)), to_pe,
                           plugin_config["drift_velocity_um_per_ns"] * 1e-4, plugin_config["tpc_length_cm"])


def _timed_make(st, chunks):
    InMemoryRawRecords.chunks = chunks
    started = time.perf_counter()
    n_events = sum(len(c.data) for c in st.get_iter(RUN, "event_basics", progress_bar=False))
    return time.perf_counter() - started, n_events


def test_this_chain_against_straxen(benchmark, nt_chunks):
    raw_data, ours, chunks, pmts = nt_chunks
    peer = _straxen_context(ours, pmts)
    mine = ours.new_context()
    mine.register(InMemoryRawRecords)
    megabytes = sum(c.data.nbytes for c in chunks) / 1e6
    _timed_make(peer, chunks[:1]), _timed_make(mine, chunks[:1])  # compile both first
    times = {"straxen": [], "ddcore": []}
    found = {}
    for _ in range(ROUNDS):  # alternate, so both see the same machine state
        for name, st in (("straxen", peer), ("ddcore", mine)):
            seconds, found[name] = _timed_make(st, chunks)
            times[name].append(seconds)
    medians = {name: float(np.median(t)) for name, t in times.items()}
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    InMemoryRawRecords.chunks = chunks
    lone_hits = sum(len(c.data) for c in mine.get_iter(RUN, "lone_hits", progress_bar=False))
    records = sum(len(c.data) for c in chunks)
    benchmark.extra_info.update(
        raw_data=raw_data, raw_records_mb=megabytes, lone_hits_per_record=lone_hits / records, events_simulated=EVENTS,
        straxen_mb_per_s=megabytes / medians["straxen"], ddcore_mb_per_s=megabytes / medians["ddcore"],
        ratio=medians["straxen"] / medians["ddcore"], straxen_events=found["straxen"], ddcore_events=found["ddcore"],
        straxen_version=straxen.__version__,
    )
    assert found["ddcore"] > 0.9 * EVENTS and found["straxen"] > 0.5 * EVENTS
