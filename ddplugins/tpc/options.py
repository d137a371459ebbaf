"""Option groups shared by TPC plugins.

strax collects a plugin's options from the class it is declared on. These groups are mixins whose
options ``DDPlugin`` merges into every subclass, so a plugin takes exactly the groups it uses and
only those options enter its lineage (geometry changes reprocess everything; an electron-lifetime
change reprocesses only what depends on it).
"""

import numpy as np
import strax
from immutabledict import immutabledict

from ddplugins.tpc import geometry


class DDPlugin(strax.Plugin):
    """strax.Plugin that also takes the options of its option-group mixins."""

    def new_result(self, things):
        """Zeroed output rows, one per row of ``things``, with its time and endtime."""
        result = np.zeros(len(things), self.dtype)
        result["time"] = things["time"]
        result["endtime"] = strax.endtime(things)
        return result

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        merged = {}
        for base in reversed(cls.__mro__):
            merged.update(base.__dict__.get("takes_config", {}))
        cls.takes_config = immutabledict(merged)


class GeometryOptions:
    tpc_radius_cm = strax.Config(default=47.9, type=(float, int), help="TPC radius [cm]")
    tpc_length_cm = strax.Config(
        default=96.9, type=(float, int), help="Drift length from gate to cathode [cm]"
    )
    top_array_layout = strax.Config(
        default="rings", type=str,
        help="Top PMT array layout: 'rings' (ring k holds 6k PMTs) or 'hex' (hexagonal grid)",
    )
    top_array_pitch_cm = strax.Config(
        default=7.95, type=(float, int), help="Top array ring spacing or hex pitch [cm]"
    )
    top_array_rings = strax.Config(
        default=7, type=int, help="Number of rings (including the central PMT) for 'rings'"
    )
    top_array_max_radius_cm = strax.Config(
        default=47.8, type=(float, int), help="Largest PMT centre radius for a 'hex' top array [cm]"
    )
    bottom_array_pitch_cm = strax.Config(
        default=8.0, type=(float, int), help="Bottom array hexagonal pitch [cm]"
    )
    bottom_array_max_radius_cm = strax.Config(
        default=44.6, type=(float, int), help="Largest PMT centre radius on the bottom array [cm]"
    )
    dead_channels = strax.Config(
        default=(), type=(tuple, list), help="Channels with zero gain (no signal, excluded)"
    )

    @property
    def pmts(self):
        """PMT table (channel, array, x, y, alive), computed once per plugin instance."""
        if "_pmts" not in self.__dict__:
            self.__dict__["_pmts"] = geometry.pmt_layout(
                top_layout=self.top_array_layout,
                top_pitch_cm=self.top_array_pitch_cm,
                top_rings=self.top_array_rings,
                top_max_radius_cm=self.top_array_max_radius_cm,
                bottom_pitch_cm=self.bottom_array_pitch_cm,
                bottom_max_radius_cm=self.bottom_array_max_radius_cm,
                dead_channels=self.dead_channels,
            )
        return self.__dict__["_pmts"]

    @property
    def n_top_pmts(self):
        return int(np.sum(self.pmts["array"] == geometry.TOP))

    @property
    def n_pmts(self):
        return len(self.pmts)


class DigitizerOptions:
    sample_duration_ns = strax.Config(default=10, type=int, help="Digitizer sample width [ns]")
    digitizer_baseline = strax.Config(default=16000, type=int, help="Baseline [ADC counts]")
    adc_per_pe = strax.Config(
        default=116.7, type=(float, int),
        help="Integral of a single photoelectron pulse at nominal gain [ADC x samples]",
    )


class DriftOptions:
    drift_field_v_per_cm = strax.Config(
        default=120.0, type=(float, int), help="Drift field (NEST yields and pulse shapes) [V/cm]"
    )
    drift_velocity_um_per_ns = strax.Config(
        default=1.44, type=(float, int), help="Electron drift velocity in the liquid [um/ns]"
    )
    drift_time_gate_us = strax.Config(
        default=1.7, type=(float, int), help="Drift time of electrons created at the gate [us]"
    )
    electron_lifetime_us = strax.Config(
        default=450.0, type=(float, int), help="Electron lifetime in the liquid [us]"
    )

    def drift_time_ns(self, depth_cm):
        return depth_cm * 1e4 / self.drift_velocity_um_per_ns + self.drift_time_gate_us * 1e3

    def depth_cm(self, drift_time_ns):
        return (drift_time_ns - self.drift_time_gate_us * 1e3) * self.drift_velocity_um_per_ns / 1e4


class LightCollectionOptions:
    g1_pe_per_photon = strax.Config(
        default=0.144, type=(float, int),
        help="Photon detection efficiency, volume averaged (PE per S1 photon)",
    )
    g2_bottom_pe_per_electron = strax.Config(
        default=11.5, type=(float, int),
        help="Bottom-array S2 PE per electron leaving the interaction (after extraction)",
    )
    s2_area_fraction_top = strax.Config(
        default=0.68, type=(float, int), help="Fraction of S2 light seen by the top array"
    )
    extraction_efficiency = strax.Config(
        default=0.96, type=(float, int), help="Probability an electron is extracted into the gas"
    )
    s2_lrf_height_cm = strax.Config(
        default=6.0, type=(float, int),
        help="Light response function scale: S2 light on the top array falls off as "
        "h / (d^2 + h^2)^1.5 with the horizontal distance d [cm]",
    )
    s1_light_yield_depth_gradient = strax.Config(
        default=0.3, type=(float, int),
        help="Relative S1 light yield change from top (depth 0) to cathode; relative LY = "
        "1 + gradient * (depth / length - 0.5) + radial * ((r / R)^2 - 0.5)",
    )
    s1_light_yield_radial_gradient = strax.Config(
        default=-0.1, type=(float, int), help="Radial term of the relative S1 light yield"
    )

    def relative_s1_light_yield(self, x, y, depth):
        r2 = (x**2 + y**2) / self.tpc_radius_cm**2
        return (
            1
            + self.s1_light_yield_depth_gradient * (depth / self.tpc_length_cm - 0.5)
            + self.s1_light_yield_radial_gradient * (r2 - 0.5)
        )
