"""Hit finding shared by ``peaks`` and ``lone_hits``: options declared once, the same hits."""

import logging

import numpy as np
import strax

from ddplugins._kept_buffer import KeptBuffer
from ddplugins._sorting import sort_by_time
from ddplugins.peaks._find_hits import find_hits, set_integration_bounds
from ddplugins.records.records import to_pe_per_channel
from ddplugins.tpc._options import PMTLayoutOptions, pmt_table, tpc_options

log = logging.getLogger(__name__)


class HitFindingOptions(PMTLayoutOptions):
    """Option group of the plugins that find hits in ``records``, with the hits of a chunk
    (TPC channels, live channels, integration bounds, in time order). Not a plugin of its own."""

    adc_per_pe = tpc_options("adc_per_pe")
    hit_min_amplitude_adc = strax.Config(
        default=15, type=int, help="Hit threshold above the baseline [ADC]"
    )
    hit_extension_ns = strax.Config(
        default=(30, 200), type=(tuple, list),
        help="Integrate this far left and right of each hit [ns]",
    )

    def setup_hit_finding(self):
        self.warned_outside = False
        self.pmts = pmt_table(self)
        self.n_pmts = len(self.pmts)
        self.find_hits = KeptBuffer(find_hits, strax.hit_dtype, buffer_size=int(1e5))
        # strax.find_hits' per-channel thresholds for a constant threshold
        self.hit_thresholds = (np.full(self.n_pmts, float(self.hit_min_amplitude_adc)), np.zeros(self.n_pmts))
        self.to_pe = to_pe_per_channel(self.pmts, self.adc_per_pe)

    def tpc_records(self, records):
        """Records of the TPC's channels; those of other channels (a veto, acquisition monitors:
        raw data of a whole DAQ) are set aside, with a warning the first time."""
        if not len(records) or records["channel"].max() < self.n_pmts:
            return records
        outside = records["channel"] >= self.n_pmts
        if not self.warned_outside:
            log.warning("Run %s: %d records of channels %s outside the TPC's %d set aside (not in %s)",
                        self.run_id, int(outside.sum()), sorted(set(records["channel"][outside].tolist()))[:10],
                        self.n_pmts, self.provides[0])
            self.warned_outside = True
        return records[~outside]

    def hits(self, records):
        """Hits of live TPC channels in ``records`` (already :meth:`tpc_records`), with
        integration bounds, sorted by time."""
        return self.find_hits(records, *self.hit_thresholds, then=self._live_bounded_in_time_order)

    def _live_bounded_in_time_order(self, hits):
        alive = self.to_pe[hits["channel"]] > 0
        if not alive.all():
            hits = hits[alive]
        # strax.find_hit_integration_bounds; in each channel's time order, which find_hits keeps
        set_integration_bounds(hits, *self.hit_extension_ns, self.n_pmts)
        return sort_by_time(hits)
