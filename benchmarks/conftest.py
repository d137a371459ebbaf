"""Shared inputs for the benchmarks: simulated raw_records kept in memory."""

import os

import numpy as np
import pytest
import strax

import ddcore

BENCH_EVENTS = int(os.environ.get("DD_BENCH_EVENTS", "400"))


@pytest.fixture(scope="session")
def bench_context():
    return ddcore.context("xenon1t", storage=[], sim_n_events=BENCH_EVENTS, sim_events_per_chunk=200)


@pytest.fixture(scope="session")
def raw_records(bench_context):
    return bench_context.get_array("er_sr0_050", "raw_records", progress_bar=False)


@pytest.fixture(scope="session")
def event_arrays(bench_context):
    names = ["event_hitpatterns", "event_waveforms", "event_images"]
    return {n: bench_context.get_array("wimp_sr0_050", n, progress_bar=False) for n in names}


def megabytes(array):
    return np.asarray(array).nbytes / 1e6


class InMemoryRawRecords(strax.Plugin):
    """raw_records chunks handed in by the benchmark (``chunks``: list of strax Chunks)."""

    __version__ = "0.0.1"
    depends_on = ()
    provides = "raw_records"
    data_kind = "raw_records"
    dtype = strax.raw_record_dtype(strax.DEFAULT_RECORD_LENGTH)
    rechunk_on_save = False
    chunks: list = []

    def setup(self):
        self.chunk_number = list(range(len(self.chunks)))

    def is_ready(self, chunk_i):
        return chunk_i < len(self.chunks)

    def source_finished(self):
        return True

    def compute(self, chunk_i):
        chunk = self.chunks[chunk_i]
        return self.chunk(start=chunk.start, end=chunk.end, data=chunk.data)
