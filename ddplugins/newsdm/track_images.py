"""``track_images``: simulated NEWSdm track candidates, 8 polarisation images each."""

import numpy as np
import strax

from ddcore.plugins import Checked, SimulatedSource
from ddplugins.newsdm import simulation

SOURCES = ("carbon30", "carbon60", "carbon100", "fog", "gamma", "mixed")
CARBON_ENERGIES_KEV = (30.0, 60.0, 100.0)
SCAN_STEP_NS = 1000  # tracks get consecutive pseudo-times so strax can chunk them


class TrackImages(SimulatedSource):
    """Track candidates of the run named ``<source>_<preset>_<number>``: source ``carbon30``,
    ``carbon60``, ``carbon100`` (signal), ``fog``, ``gamma`` or ``mixed`` (equal thirds of carbon
    at all three energies, fog and gamma); the number is the seed."""

    __version__ = "0.1.0"
    provides = "track_images"
    data_kind = "tracks"
    compressor = "zstd"
    sources = SOURCES
    preset_option = "newsdm_run_preset"

    newsdm_run_preset = strax.Config(default="run1", type=str, help="Preset that run ids must carry")
    newsdm_n_tracks = Checked(minimum=1, default=1000, type=int, help="Track candidates per run")
    newsdm_tracks_per_chunk = Checked(minimum=1, default=1000, type=int, help="Tracks per chunk")
    newsdm_image_size = Checked(minimum=8, default=40, type=int, help="Image side [pixels]")
    newsdm_pixel_nm = Checked(above=0, default=20.0, type=(float, int), help="Pixel size [nm]")
    newsdm_psf_sigma_nm = Checked(above=0,
        default=90.0, type=(float, int), help="Optical point-spread function width (sigma) [nm]"
    )
    newsdm_carbon_nm_per_kev = strax.Config(
        default=1.6, type=(float, int), help="Carbon recoil track length per keV [nm/keV]"
    )
    newsdm_gamma_length_nm = strax.Config(
        default=350.0, type=(float, int), help="Typical gamma-induced electron track length [nm]"
    )
    newsdm_signal_modulation = strax.Config(
        default=0.6, type=(float, int), help="Plasmon-resonance brightness modulation of recoil grains"
    )
    newsdm_fog_modulation = strax.Config(
        default=0.15, type=(float, int), help="Brightness modulation of round fog grains"
    )
    newsdm_gamma_modulation = strax.Config(
        default=0.5, type=(float, int), help="Brightness modulation of electron-track grains"
    )
    newsdm_noise = strax.Config(default=0.03, type=(float, int), help="Pixel noise (fraction of peak)")

    def infer_dtype(self):
        size = self.newsdm_image_size
        return strax.time_fields + [
            (("Track number in the run", "track_number"), np.int64),
            (("Class: 0 carbon recoil (signal), 1 fog, 2 gamma electron", "track_class"), np.int8),
            (("Truth label: 1 signal, 0 background", "label"), np.int8),
            (("Recoil energy [keV] (carbon only, else NaN)", "energy"), np.float32),
            (("Images under 8 polarisation angles (0, 22.5, ... 157.5 deg)", "polarization_images"),
             np.float32, (simulation.N_POLARISATIONS, size, size)),
        ]

    def setup_run(self):
        self.source, self.seed = self.spec.source, self.spec.seed
        return -(-self.newsdm_n_tracks // self.newsdm_tracks_per_chunk)

    def run_time_range(self):
        return SCAN_STEP_NS, (self.newsdm_n_tracks + 1) * SCAN_STEP_NS

    def _classes(self, rng, n):
        if self.source.startswith("carbon"):
            return np.zeros(n, np.int8), np.full(n, float(self.source[6:]))
        if self.source in ("fog", "gamma"):
            return np.full(n, simulation.CLASSES[self.source], np.int8), np.full(n, np.nan)
        classes = rng.integers(0, 3, n).astype(np.int8)
        energies = np.where(classes == 0, rng.choice(CARBON_ENERGIES_KEV, n), np.nan)
        return classes, energies

    def compute(self, chunk_i):
        first = chunk_i * self.newsdm_tracks_per_chunk
        n = min(self.newsdm_tracks_per_chunk, self.newsdm_n_tracks - first)
        rng = np.random.default_rng([self.seed, sum(map(ord, self.source)), chunk_i])
        classes, energies = self._classes(rng, n)
        result = np.zeros(n, self.dtype)
        result["track_number"] = first + np.arange(n)
        result["time"] = (first + np.arange(n)) * SCAN_STEP_NS + SCAN_STEP_NS
        result["endtime"] = result["time"] + SCAN_STEP_NS // 2
        result["track_class"] = classes
        result["label"] = classes == 0
        result["energy"] = energies
        result["polarization_images"] = simulation.simulate_tracks(rng, classes, energies, self.config_values())
        start = (first + 1) * SCAN_STEP_NS
        return self.chunk(start=start, end=start + self.newsdm_tracks_per_chunk * SCAN_STEP_NS, data=result)

    def config_values(self):
        return {name: getattr(self, name) for name in self.takes_config}
