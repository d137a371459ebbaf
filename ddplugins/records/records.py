"""``records``: baseline-subtracted, flipped PMT pulses with their integrals."""

import numba
import numpy as np
import strax

from ddcore.plugins import DDPlugin
from ddplugins.tpc._options import tpc_options


class Records(DDPlugin):
    """strax pulse processing: raw_to_records, baseline, integrate, zero_out_of_bounds."""

    __version__ = "0.1.0"
    depends_on = "raw_records"
    provides = "records"
    data_kind = "records"
    compressor = "zstd"
    save_when = strax.SaveWhen.TARGET

    digitizer_baseline = tpc_options("digitizer_baseline")
    baseline_samples = strax.Config(
        default=40, type=int, help="Samples at the start of a pulse used for its baseline"
    )

    def infer_dtype(self):
        record_length = strax.record_length_from_dtype(self.deps["raw_records"].dtype_for("raw_records"))
        return strax.record_dtype(record_length)

    def compute(self, raw_records):
        # strax data are sorted by time; raw_to_records keeps the order
        records = raw_to_records(raw_records)
        strax.zero_out_of_bounds(records)
        strax.baseline(
            records,
            baseline_samples=self.baseline_samples,
            flip=True,
            fallback_baseline=self.digitizer_baseline,
        )
        strax.integrate(records)
        return records


def raw_to_records(raw_records):
    """``strax.raw_to_records`` with a cached kernel: strax generates its copy function at run
    time, which numba cannot cache, so every process paid ~1.8 s compiling it."""
    record_length = strax.record_length_from_dtype(raw_records.dtype)
    records = np.zeros(len(raw_records), dtype=strax.record_dtype(record_length))
    _copy_raw_records(raw_records, records)
    return records


@numba.njit(nogil=True, cache=True)
def _copy_raw_records(raw_records, records):
    for i in range(len(raw_records)):
        source, target = raw_records[i], records[i]
        target["time"] = source["time"]
        target["length"] = source["length"]
        target["dt"] = source["dt"]
        target["channel"] = source["channel"]
        target["pulse_length"] = source["pulse_length"]
        target["record_i"] = source["record_i"]
        target["baseline"] = source["baseline"]
        target["data"][:] = source["data"]


def to_pe_per_channel(pmts, adc_per_pe):
    """PE per ADC x sample for each channel; zero for dead channels (their hits are ignored)."""
    return np.where(pmts["alive"], 1.0 / adc_per_pe, 0.0)
