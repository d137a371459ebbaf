"""``lone_hits``: hits outside every peak (PMT dark counts, lone afterpulses), kept apart."""

import numpy as np
import strax

from ddcore.plugins import DDPlugin
from ddplugins.peaks._hits import HitFindingOptions


class LoneHits(HitFindingOptions, DDPlugin):
    """Hits that no peak contains, with their areas in PE, as straxen's ``lone_hits``.

    Most hits of a real detector's raw data are single photoelectrons of one PMT far from any
    other hit (dark counts, ~20 Hz per PMT); ``peaks`` leaves them out
    (``peak_min_channels``), and this type keeps them for who studies them (dark-count rates per
    channel, single-PE spectra). The hits are found again from ``records`` when asked for, so the
    chain to events never carries them.
    """

    __version__ = "0.1.0"
    depends_on = ("records", "peaks")
    provides = "lone_hits"
    data_kind = "lone_hits"
    compressor = "zstd"
    rechunk_on_save = False

    dtype = [(("Integral over the integration bounds [PE]", "area") if name == "area" else (title, name), kind)
             for (title, name), kind in strax.hit_dtype]

    def setup(self):
        self.setup_hit_finding()

    def compute(self, records, peaks):
        records = self.tpc_records(records)
        if not len(records):
            return np.zeros(0, self.dtype)
        hits = self.hits(records)
        lone = hits[strax.fully_contained_in(hits, peaks) == -1]
        # straxen's integration: extended by hit_extension_ns, not into peaks or the next hit
        strax.integrate_lone_hits(lone, records, peaks, tuple(self.hit_extension_ns), self.n_pmts)
        lone["area"] *= self.to_pe[lone["channel"]]
        return lone.astype(self.dtype)
