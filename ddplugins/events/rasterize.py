"""Rasterisers turning hitpatterns and waveforms into images (Hit, Peak, HitPeak of arXiv:1911.09210).

* A PMT array image is a top view of the array: every PMT is a disc of diameter ``pitch`` whose
  brightness is log10(1 + area) / log10(1 + full_scale), clipped to [0, 1]. The pixel -> PMT
  lookup is computed once per geometry and image size, so rasterising is a gather.
* A waveform image is the waveform drawn as a filled curve: columns are time bins spanning the
  peak, the filled height is the amplitude [PE/ns] on a log scale between two fixed limits.

Fixed (not per-image) scales keep the absolute size of S1 and S2 in the image, which carries the
cS2/cS1 discrimination.
"""

import functools

import numba
import numpy as np


@functools.lru_cache(maxsize=32)
def _pmt_lookup_cached(x_bytes, y_bytes, pitch, height, width):
    x = np.frombuffer(x_bytes)
    y = np.frombuffer(y_bytes)
    extent = np.max(np.hypot(x, y)) + pitch / 2
    # pixel centres in cm, y up
    px = (np.arange(width) + 0.5) / width * 2 * extent - extent
    py = extent - (np.arange(height) + 0.5) / height * 2 * extent
    gx, gy = np.meshgrid(px, py)
    d2 = (gx[..., None] - x) ** 2 + (gy[..., None] - y) ** 2
    nearest = np.argmin(d2, axis=-1)
    inside = np.take_along_axis(d2, nearest[..., None], -1)[..., 0] <= (pitch / 2) ** 2
    lookup = np.where(inside, nearest, len(x))
    lookup.setflags(write=False)
    return lookup


def pmt_lookup(x, y, pitch, height, width):
    """(height, width) int array: index of the PMT under each pixel, len(x) where there is none."""
    return _pmt_lookup_cached(
        np.ascontiguousarray(x, np.float64).tobytes(),
        np.ascontiguousarray(y, np.float64).tobytes(),
        float(pitch),
        int(height),
        int(width),
    )


def pmt_brightness(areas, full_scale_pe):
    """Per-PMT brightness in [0, 1] with a zero appended for pixels that show no PMT."""
    scaled = np.log10(1 + np.clip(areas, 0, None)) / np.log10(1 + full_scale_pe)
    return np.concatenate(
        [np.clip(scaled, 0, 1), np.zeros((len(areas), 1))], axis=1
    ).astype(np.float32)


def array_images(areas, lookup, full_scale_pe):
    """Images (n, h, w) of per-PMT areas (n, n_pmts) of one array, through a lookup table."""
    return pmt_brightness(areas, full_scale_pe)[:, lookup]


@numba.njit(cache=True)
def _fill_planes(top_brightness, top_lookup, bottom_brightness, bottom_lookup, peak_images, out):
    """out[ev, y, x] = (top PMT, bottom PMT, peak image) pixel, written in memory order."""
    for ev in range(out.shape[0]):
        for y in range(out.shape[1]):
            for x in range(out.shape[2]):
                out[ev, y, x, 0] = top_brightness[ev, top_lookup[y, x]]
                out[ev, y, x, 1] = bottom_brightness[ev, bottom_lookup[y, x]]
                out[ev, y, x, 2] = peak_images[ev, y, x]


@numba.njit(cache=True)
def waveform_images(waveforms, sample_widths, height, width, amplitude_min, amplitude_max, out):
    """Draw waveforms (n, n_bins) [PE per bin] into out[:, :height, :width] as filled curves."""
    n_bins = waveforms.shape[1]
    log_min = np.log10(amplitude_min)
    span = np.log10(amplitude_max) - log_min
    for ev in range(waveforms.shape[0]):
        if sample_widths[ev] <= 0:
            continue
        for col in range(width):
            first = col * n_bins // width
            last = max((col + 1) * n_bins // width, first + 1)
            amplitude = 0.0
            for b in range(first, last):
                amplitude += waveforms[ev, b]
            amplitude /= (last - first) * sample_widths[ev]
            if amplitude <= amplitude_min:
                continue
            filled = min((np.log10(amplitude) - log_min) / span, 1.0) * height
            full_rows = int(filled)
            for row in range(full_rows):
                out[ev, height - 1 - row, col] = 1.0
            if full_rows < height:
                out[ev, height - 1 - full_rows, col] = filled - full_rows


class EventRasterizer:
    """Renders the three image kinds for one detector geometry at any size."""

    def __init__(self, pmts, top_pitch_cm, bottom_pitch_cm, s1_full_scale_pe, s2_full_scale_pe,
                 amplitude_range):
        self.top = np.flatnonzero(pmts["array"] == 0)
        self.bottom = np.flatnonzero(pmts["array"] == 1)
        self.pmts = pmts
        self.pitch = {"top": top_pitch_cm, "bottom": bottom_pitch_cm}
        self.s1_full_scale_pe = s1_full_scale_pe
        self.s2_full_scale_pe = s2_full_scale_pe
        self.amplitude_range = tuple(float(a) for a in amplitude_range)

    def _lookup(self, which, height, width):
        channels = self.top if which == "top" else self.bottom
        lookup = pmt_lookup(
            self.pmts["x"][channels], self.pmts["y"][channels], self.pitch[which], height, width
        )
        return channels, lookup

    def _array(self, areas, which, full_scale, height, width):
        channels, lookup = self._lookup(which, height, width)
        return array_images(areas[:, channels], lookup, full_scale)

    def _waveforms(self, waveforms, widths, height, width):
        out = np.zeros((len(waveforms), height, width), np.float32)
        waveform_images(
            waveforms.astype(np.float64), widths.astype(np.float64), height, width,
            self.amplitude_range[0], self.amplitude_range[1], out,
        )
        return out

    def hit_images(self, hitpatterns, height=50, width=100):
        """S1 on the bottom array (left half) and S2 on the top array (right half)."""
        left = width // 2
        return np.concatenate(
            [
                self._array(hitpatterns["s1_hitpattern"], "bottom", self.s1_full_scale_pe, height, left),
                self._array(hitpatterns["s2_hitpattern"], "top", self.s2_full_scale_pe, height, width - left),
            ],
            axis=2,
        )

    def peak_images(self, waveforms, height=50, width=100):
        """Main S1 waveform (left half) and main S2 waveform (right half), log amplitude."""
        left = width // 2
        return np.concatenate(
            [
                self._waveforms(waveforms["s1_waveform"], waveforms["s1_waveform_dt"], height, left),
                self._waveforms(waveforms["s2_waveform"], waveforms["s2_waveform_dt"], height, width - left),
            ],
            axis=2,
        )

    def hitpeak_images(self, hitpatterns, waveforms, size=75):
        """Three colour planes: S2 top pattern, S1 bottom pattern, Peak image."""
        top, top_lookup = self._lookup("top", size, size)
        bottom, bottom_lookup = self._lookup("bottom", size, size)
        out = np.empty((len(hitpatterns), size, size, 3), np.float32)
        _fill_planes(
            pmt_brightness(hitpatterns["s2_hitpattern"][:, top], self.s2_full_scale_pe),
            top_lookup,
            pmt_brightness(hitpatterns["s1_hitpattern"][:, bottom], self.s1_full_scale_pe),
            bottom_lookup,
            self.peak_images(waveforms, size, size),
            out,
        )
        return out
