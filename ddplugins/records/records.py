"""``records``: baseline-subtracted, flipped PMT pulses with their integrals."""

import numba
import numpy as np
import strax

from ddcore.plugins import DDPlugin
from ddplugins.tpc._options import channel_gains, tpc_options


class Records(DDPlugin):
    """strax pulse processing (raw_to_records, zero_out_of_bounds, baseline, integrate) in one pass."""

    __version__ = "0.2.0"
    depends_on = "raw_records"
    provides = "records"
    data_kind = "records"
    compressor = "zstd"
    save_when = strax.SaveWhen.TARGET

    # strax.baseline's fallback for a pulse whose first record is missing; that case is refused
    # (as strax does without allow_sloppy_chunking), so the option only enters the lineage
    digitizer_baseline = tpc_options("digitizer_baseline")
    sample_duration_ns = tpc_options("sample_duration_ns")
    baseline_samples = strax.Config(
        default=40, type=int, help="Samples at the start of a pulse used for its baseline"
    )

    def infer_dtype(self):
        record_length = strax.record_length_from_dtype(self.deps["raw_records"].dtype_for("raw_records"))
        return strax.record_dtype(record_length)

    def compute(self, raw_records):
        wrong = raw_records["dt"] != self.sample_duration_ns
        if wrong.any():
            row = int(np.argmax(wrong))
            raise ValueError(
                f"Run {self.run_id!r}, raw_records row {row} (channel {raw_records['channel'][row]}): samples of "
                f"{raw_records['dt'][row]} ns, the detector's are {self.sample_duration_ns} ns (option "
                "sample_duration_ns): raw data of another digitizer, or the wrong detector")
        return records_from_raw(raw_records, self.baseline_samples)


def records_from_raw(raw_records, baseline_samples=40):
    """strax's pulse processing in one pass over the records: ``raw_to_records``,
    ``zero_out_of_bounds``, ``baseline`` (flipped) and ``integrate``, byte for byte; a pulse
    whose first record is missing is refused, as strax does without ``allow_sloppy_chunking``.

    strax makes four passes, and its baseline subtraction and ``raw_to_records`` copy (generated
    at run time, so numba cannot cache it: ~1.8 s of compilation per process) allocate
    temporaries per record; 0.4 s of a 3.1 s stored chain of 2,000 events went here. Records
    keep the order of the raw records (strax data are sorted by time).
    """
    record_length = strax.record_length_from_dtype(raw_records.dtype)
    records = np.zeros(len(raw_records), dtype=strax.record_dtype(record_length))
    if len(raw_records):
        _records_from_raw(raw_records, records, baseline_samples)
    return records


@numba.njit(nogil=True, cache=True)
def _records_from_raw(raw_records, records, baseline_samples):
    samples_per_record = len(records[0]["data"])
    n_channels = raw_records["channel"].max() + 1
    last_baseline = np.zeros((n_channels, 2), dtype=np.float32)  # (mean, rms) of the pulse
    seen_first = np.zeros(n_channels, dtype=np.bool_)
    for i in range(len(raw_records)):
        source, r = raw_records[i], records[i]
        r["time"] = source["time"]
        r["length"] = source["length"]
        r["dt"] = source["dt"]
        r["channel"] = source["channel"]
        r["pulse_length"] = source["pulse_length"]
        r["record_i"] = source["record_i"]
        length = r["length"]
        data = r["data"]
        raw = source["data"]
        for k in range(min(length, samples_per_record)):
            data[k] = raw[k]  # beyond the pulse: zero (zero_out_of_bounds)

        channel = r["channel"]
        if r["record_i"] == 0:  # strax.baseline: the pulse's first samples
            seen_first[channel] = True
            window = data[:baseline_samples]
            bl, rms = window.mean(), window.std()
            last_baseline[channel, 0] = bl
            last_baseline[channel, 1] = rms
        else:
            if not seen_first[channel]:
                raise RuntimeError("Cannot baseline, missing 0th fragment!")
            bl, rms = last_baseline[channel, 0], last_baseline[channel, 1]
        subtract = int(bl)
        for k in range(length):
            data[k] = -1 * (data[k] - subtract)
        r["baseline"] = bl
        r["baseline_rms"] = rms

        r["area"] = data.sum() * 2 ** r["amplitude_bit_shift"] + int(round((r["baseline"] % 1) * r["length"]))


def to_pe_per_channel(pmts, adc_per_pe):
    """PE per ADC x sample for each channel (its gain from the PMT table, else ``adc_per_pe``);
    zero for dead channels (their hits are ignored)."""
    gains = channel_gains(pmts, adc_per_pe)
    with np.errstate(divide="ignore"):
        return np.where(gains > 0, 1.0 / gains, 0.0)
