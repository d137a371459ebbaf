"""straxen's XENONnT chain run offline, the peer of the benchmarks and of the WFSim validation.

Every option that would read a database gets a plain value (constant gains, one hit threshold,
the simulated drift velocity and TPC length), and the neural-net position reconstruction is
replaced by a top-array centroid (``CentroidPositions``)."""

import numpy as np
import strax
import straxen
from immutabledict import immutabledict

HIT_THRESHOLD_ADC = 15


class CentroidPositions(strax.Plugin):
    """(x, y) of every peak: area-weighted centroid of the top-array PMTs."""

    __version__ = "0.0.1"
    depends_on = "peaks"
    provides = "peak_positions"
    data_kind = "peaks"
    dtype = strax.time_fields + [(("x [cm]", "x"), np.float32), (("y [cm]", "y"), np.float32)]
    pmt_x = pmt_y = n_top = None

    def compute(self, peaks):
        result = np.zeros(len(peaks), self.dtype)
        result["time"], result["endtime"] = peaks["time"], strax.endtime(peaks)
        top = peaks["area_per_channel"][:, : self.n_top]
        total = np.maximum(top.sum(axis=1), 1e-9)
        result["x"] = top @ self.pmt_x[: self.n_top] / total
        result["y"] = top @ self.pmt_y[: self.n_top] / total
        return result


def straxen_context(raw_records_plugin, pmt_x, pmt_y, n_top, to_pe, drift_velocity_cm_per_ns, max_drift_length_cm,
                    **config):
    """A strax context with straxen's plugins from ``raw_records_plugin``'s raw_records to
    event_basics; ``config`` adds or overrides options."""
    n_pmts = len(pmt_x)
    CentroidPositions.pmt_x, CentroidPositions.pmt_y, CentroidPositions.n_top = pmt_x, pmt_y, n_top
    return strax.Context(
        storage=[],
        register=[raw_records_plugin, straxen.PulseProcessing, straxen.Peaklets,
                  straxen.PeakletClassificationVanilla, straxen.MergedS2sVanilla, straxen.PeaksVanilla,
                  straxen.PeakBasicsVanilla, CentroidPositions, straxen.PeakProximity, straxen.Events,
                  straxen.EventBasicsVanilla],
        config=dict(
            channel_map=immutabledict(tpc=(0, n_pmts - 1)), n_tpc_pmts=n_pmts, n_top_pmts=n_top,
            gain_model=np.asarray(to_pe, float), hit_min_amplitude=np.full(n_pmts, HIT_THRESHOLD_ADC, np.int16),
            electron_drift_velocity=drift_velocity_cm_per_ns, max_drift_length=max_drift_length_cm, **config,
        ),
    )
