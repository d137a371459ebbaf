"""Feeding raw_records from elsewhere (real data, another simulator) into the processing chain."""

import numpy as np
import strax


def raw_records_source(raw_records, chunk_duration_ns=None):
    """A strax source plugin class providing ``raw_records`` from an in-memory array.

    Register it in place of the simulator, e.g.
    ``strax.Context(register=[raw_records_source(rr), *processing_plugins])``. With
    ``chunk_duration_ns`` the array is served in chunks split where no pulse straddles the cut.
    """
    raw_records = strax.sort_by_time(np.asarray(raw_records))
    start = int(raw_records["time"][0]) if len(raw_records) else 0
    end = int(strax.endtime(raw_records).max()) + 1 if len(raw_records) else 1
    edges = [start]
    if chunk_duration_ns and len(raw_records) > 1:
        # a chunk may end just before record i only if no earlier record reaches past its start
        reach = np.maximum.accumulate(strax.endtime(raw_records))
        clean = np.flatnonzero(reach[:-1] <= raw_records["time"][1:]) + 1
        clean_times = raw_records["time"][clean]
        for t in range(start + int(chunk_duration_ns), end, int(chunk_duration_ns)):
            j = np.searchsorted(clean_times, t)
            if j < len(clean_times) and clean_times[j] > edges[-1]:
                edges.append(int(clean_times[j]))
    edges.append(end)
    # a contiguous copy: searchsorted on the strided field copied all of it for every chunk
    times = np.ascontiguousarray(raw_records["time"])

    class ArrayRawRecords(strax.Plugin):
        __version__ = "0.0.1"
        depends_on = ()
        provides = "raw_records"
        data_kind = "raw_records"
        dtype = strax.raw_record_dtype(raw_records.dtype["data"].shape[0])
        rechunk_on_save = False

        def is_ready(self, chunk_i):
            return chunk_i < len(edges) - 1

        def source_finished(self):
            return True

        def compute(self, chunk_i):
            lo, hi = edges[chunk_i], edges[chunk_i + 1]
            first, last = np.searchsorted(times, [lo, hi])
            return self.chunk(start=lo, end=hi, data=raw_records[first:last])

    return ArrayRawRecords


def processing_plugins(detector):
    """The detector's plugins from records onwards (no simulation, no truth)."""
    return [p for p in detector.plugins
            if not set(p.provides) & {"instructions", "raw_records", "event_truth"}]
