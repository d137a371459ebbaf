"""``event_images``: Hit, Peak and HitPeak images of each event (float32 in [0, 1])."""

import numpy as np
import strax

from ddcore.plugins import DDPlugin
from ddplugins.events.rasterize import EventRasterizer
from ddplugins.tpc._options import PMTLayoutOptions, pmt_table

IMAGE_KINDS = ("hit", "peak", "hitpeak")
IMAGE_FIELDS = {kind: f"{kind}_image" for kind in IMAGE_KINDS}
"""The image vocabulary: kind (as in options and commands) -> field of event_images."""


class EventImages(PMTLayoutOptions, DDPlugin):
    """Images of seed arXiv:1911.09210: ``hit_image`` (S1 on the bottom array | S2 on the top
    array), ``peak_image`` (S1 | S2 waveforms, log amplitude) and ``hitpeak_image`` (three colour
    planes: S2 top pattern, S1 bottom pattern, peak image). See ``ddplugins.events.rasterize``."""

    __version__ = "0.1.0"
    depends_on = ("event_hitpatterns", "event_waveforms")
    provides = "event_images"
    data_kind = "events"
    compressor = "zstd"
    # saved as computed (one chunk of the source each): strax's rechunking copied every chunk
    # into a buffer of up to chunk_target_size_mb, in time and in memory
    rechunk_on_save = False

    image_kinds = strax.Config(
        default=IMAGE_KINDS, type=(tuple, list), help="Which of 'hit', 'peak', 'hitpeak' to make"
    )
    hit_image_shape = strax.Config(
        default=(50, 100), type=(tuple, list), help="(height, width) of Hit and Peak images"
    )
    hitpeak_image_size = strax.Config(default=75, type=int, help="Side of the HitPeak image")
    image_s1_full_scale_pe = strax.Config(
        default=100.0, type=(float, int), help="Per-PMT S1 area drawn at full brightness [PE]"
    )
    image_s2_full_scale_pe = strax.Config(
        default=10000.0, type=(float, int), help="Per-PMT S2 area drawn at full brightness [PE]"
    )
    image_amplitude_range_pe_per_ns = strax.Config(
        default=(1e-3, 1e3), type=(tuple, list),
        help="Waveform amplitudes drawn from empty to full height (log scale) [PE/ns]",
    )

    def infer_dtype(self):
        unknown = set(self.image_kinds) - set(IMAGE_KINDS)
        if unknown or not self.image_kinds:
            raise ValueError(
                f"image_kinds={tuple(self.image_kinds)!r}: choose from {IMAGE_KINDS}"
            )
        h, w = self.hit_image_shape
        size = self.hitpeak_image_size
        titles_and_shapes = {
            "hit": ("Hit image: S1 bottom | S2 top hitpattern", (h, w)),
            "peak": ("Peak image: S1 | S2 waveform, log amplitude", (h, w)),
            "hitpeak": ("HitPeak image: S2 top, S1 bottom, peak planes", (size, size, 3)),
        }
        return strax.time_fields + [
            ((titles_and_shapes[k][0], IMAGE_FIELDS[k]), np.float32, titles_and_shapes[k][1])
            for k in IMAGE_KINDS if k in self.image_kinds
        ]

    def setup(self):
        self.rasterizer = make_rasterizer(self)

    def compute(self, events):
        result = self.new_result(events)
        h, w = self.hit_image_shape
        if "hit" in self.image_kinds:
            result[IMAGE_FIELDS["hit"]] = self.rasterizer.hit_images(events, h, w)
        if "peak" in self.image_kinds:
            result[IMAGE_FIELDS["peak"]] = self.rasterizer.peak_images(events, h, w)
        if "hitpeak" in self.image_kinds:
            result[IMAGE_FIELDS["hitpeak"]] = self.rasterizer.hitpeak_images(events, events, self.hitpeak_image_size)
        return result


def make_rasterizer(plugin):
    """An EventRasterizer with the plugin's geometry and image options."""
    return EventRasterizer(
        pmt_table(plugin),
        top_pitch_cm=plugin.top_array_pitch_cm,
        bottom_pitch_cm=plugin.bottom_array_pitch_cm,
        s1_full_scale_pe=plugin.image_s1_full_scale_pe,
        s2_full_scale_pe=plugin.image_s2_full_scale_pe,
        amplitude_range=plugin.image_amplitude_range_pe_per_ns,
    )
