"""Options shared by several TPC plugins, declared once here and taken by each plugin in its
own class body::

    class Events(DDPlugin):
        tpc_length_cm, drift_velocity_um_per_ns, drift_time_gate_us = tpc_options(
            "tpc_length_cm", "drift_velocity_um_per_ns", "drift_time_gate_us")

so a plugin's options (and its lineage) are exactly the ones it reads, while help text, type and
default are written once. The physics helpers below are plain functions of a plugin's config.
"""

from __future__ import annotations

import functools

import numpy as np
import strax

from ddcore.files import file_options
from ddcore.plugins import Checked, Correctable
from ddplugins.tpc import _geometry

_NUMBER = (float, int)

SHARED_OPTIONS = {
    # geometry
    "tpc_radius_cm": dict(above=0, default=47.9, type=_NUMBER, help="TPC radius [cm]"),
    "tpc_length_cm": dict(above=0, default=96.9, type=_NUMBER, help="Drift length from gate to cathode [cm]"),
    "top_array_layout": dict(choices=("rings", "hex"),
        default="rings", type=str,
        help="Top PMT array layout: 'rings' (ring k holds 6k PMTs) or 'hex' (hexagonal grid)"),
    "top_array_pitch_cm": dict(above=0, default=7.95, type=_NUMBER, help="Top array ring spacing or hex pitch [cm]"),
    "top_array_rings": dict(minimum=1, default=7, type=int,
        help="Number of rings (including the central PMT) for 'rings'"),
    "top_array_max_radius_cm": dict(above=0,
        default=47.8, type=_NUMBER, help="Largest PMT centre radius for a 'hex' top array [cm]"),
    "bottom_array_pitch_cm": dict(above=0, default=8.0, type=_NUMBER, help="Bottom array hexagonal pitch [cm]"),
    "bottom_array_max_radius_cm": dict(above=0,
        default=44.6, type=_NUMBER, help="Largest PMT centre radius on the bottom array [cm]"),
    "dead_channels": dict(minimum=0, default=(), type=(tuple, list),
        help="Channels with zero gain (no signal, excluded)"),
    "pmt_gain_spread": dict(minimum=0, maximum=1, default=0.0, type=_NUMBER,
        help="Relative spread of the generated layout's PMT gains around adc_per_pe (one fixed draw per "
        "detector, known to simulation and processing alike; 0: all equal)"),
    # fiducial volume of the analysis (and of the simulated fiducial populations)
    "fiducial_radius_cm": dict(above=0, default=39.85, type=_NUMBER, help="Fiducial radius [cm]"),
    "fiducial_z_top_cm": dict(default=-13.45, type=_NUMBER, help="Fiducial top z [cm]"),
    "fiducial_z_bottom_cm": dict(default=-83.45, type=_NUMBER, help="Fiducial bottom z [cm]"),
    # digitizer
    "sample_duration_ns": dict(above=0, default=10, type=int, help="Digitizer sample width [ns]"),
    "digitizer_baseline": dict(above=0, default=16000, type=int, help="Baseline [ADC counts]"),
    "adc_per_pe": dict(above=0,
        default=116.7, type=_NUMBER,
        help="Integral of a single photoelectron pulse at nominal gain [ADC x samples]"),
    # drift
    "drift_field_v_per_cm": dict(above=0, default=120.0, type=_NUMBER,
        help="Drift field (NEST yields and pulse shapes) [V/cm]"),
    "drift_velocity_um_per_ns": dict(above=0, default=1.44, type=_NUMBER,
        help="Electron drift velocity in the liquid [um/ns]"),
    "drift_time_gate_us": dict(minimum=0, default=1.7, type=_NUMBER,
        help="Drift time of electrons created at the gate [us]"),
    "electron_lifetime_us": dict(above=0, default=450.0, type=_NUMBER, help="Electron lifetime in the liquid [us]"),
    # light collection
    "g1_pe_per_photon": dict(above=0, maximum=1, default=0.144, type=_NUMBER,
        help="Photon detection efficiency, volume averaged (PE per S1 photon)"),
    "g2_bottom_pe_per_electron": dict(above=0,
        default=11.5, type=_NUMBER, help="Bottom-array S2 PE per electron leaving the interaction (after extraction)"),
    "s2_area_fraction_top": dict(minimum=0, below=1, default=0.68, type=_NUMBER,
        help="Fraction of S2 light seen by the top array"),
    "s2_lrf_height_cm": dict(above=0,
        default=6.0, type=_NUMBER,
        help="Light response function scale: S2 light on the top array falls off as "
        "h / (d^2 + h^2)^1.5 with the horizontal distance d [cm]"),
    "s1_light_yield_depth_gradient": dict(
        default=0.3, type=_NUMBER,
        help="Relative S1 light yield change from top (depth 0) to cathode; relative LY = "
        "1 + gradient * (depth / length - 0.5) + radial * ((r / R)^2 - 0.5)"),
    "s1_light_yield_radial_gradient": dict(default=-0.1, type=_NUMBER,
        help="Radial term of the relative S1 light yield"),
}

PMT_LAYOUT_OPTIONS = (
    "top_array_layout", "top_array_pitch_cm", "top_array_rings", "top_array_max_radius_cm",
    "bottom_array_pitch_cm", "bottom_array_max_radius_cm", "dead_channels", "pmt_gain_spread",
)
DRIFT_TIME_OPTIONS = ("drift_velocity_um_per_ns", "drift_time_gate_us")
FIDUCIAL_OPTIONS = ("fiducial_radius_cm", "fiducial_z_top_cm", "fiducial_z_bottom_cm")
S1_LIGHT_YIELD_OPTIONS = (
    "tpc_radius_cm", "tpc_length_cm", "s1_light_yield_depth_gradient", "s1_light_yield_radial_gradient",
)


# per-run conditions: a number, or a reference to a corrections store resolved per run
# (ddcore.corrections); only options the plugins read as attributes (self.electron_lifetime_us)
CORRECTABLE_OPTIONS = frozenset({"electron_lifetime_us", "drift_velocity_um_per_ns", "drift_time_gate_us",
                                 "g1_pe_per_photon", "g2_bottom_pe_per_electron", "dead_channels",
                                 "tpc_length_cm"})


def tpc_options(*names: str):
    """Fresh options (``ddcore.plugins.Checked``, bounds checked; ``Correctable`` for
    :data:`CORRECTABLE_OPTIONS`) for shared names; a tuple if several."""
    options = tuple((Correctable if name in CORRECTABLE_OPTIONS else Checked)(**SHARED_OPTIONS[name])
                    for name in names)
    return options[0] if len(options) == 1 else options


class PMTLayoutOptions(strax.Plugin):
    """The options of :data:`PMT_LAYOUT_OPTIONS`, declared once for every plugin that reads the
    PMT table (:func:`pmt_table`): such a plugin names this class first among its bases
    (``class Peaks(PMTLayoutOptions, DDPlugin)``). An option group, not a plugin: it provides
    nothing and adds no behaviour."""

    (top_array_layout, top_array_pitch_cm, top_array_rings, top_array_max_radius_cm,
     bottom_array_pitch_cm, bottom_array_max_radius_cm, dead_channels, pmt_gain_spread) = tpc_options(
        *PMT_LAYOUT_OPTIONS)
    pmt_table_file, pmt_table_sha256 = file_options(
        "pmt_table", "CSV of the detector's PMTs (channel,array,x_cm,y_cm[,gain_adc_per_pe]) used instead of "
        "the generated layout and one adc_per_pe: real positions and per-channel gains")


@functools.lru_cache(maxsize=16)
def _pmt_table(layout_values: tuple, table_file: str, table_sha256: str) -> np.ndarray:
    (layout, top_pitch, rings, top_max_radius, bottom_pitch, bottom_max_radius, dead, gain_spread) = layout_values
    if table_file:
        pmts = _geometry.read_pmt_table(table_file, dead_channels=dead)
    else:
        pmts = _geometry.pmt_layout(
            top_layout=layout, top_pitch_cm=top_pitch, top_rings=rings, top_max_radius_cm=top_max_radius,
            bottom_pitch_cm=bottom_pitch, bottom_max_radius_cm=bottom_max_radius, dead_channels=dead,
            gain_spread=gain_spread,
        )
    pmts.flags.writeable = False
    return pmts


def pmt_table(source) -> np.ndarray:
    """PMT table (channel, array, x, y, alive, adc_per_pe, relative_gain) of a plugin (its dead
    channels those of its run where they are a correction) or a config dict of plain values
    (read-only, cached): ``pmt_table_file``'s, else the generated layout."""
    config = source if isinstance(source, dict) else source.config
    return _pmt_table(tuple(_hashable(option_value(source, name)) for name in PMT_LAYOUT_OPTIONS),
                      config.get("pmt_table_file") or "", config.get("pmt_table_sha256") or "")


def channel_gains(pmts: np.ndarray, adc_per_pe: float) -> np.ndarray:
    """Each channel's gain [ADC x samples per PE]: the PMT table's, else ``adc_per_pe`` times the
    channel's relative gain; 0 for a dead channel."""
    gains = np.where(np.isfinite(pmts["adc_per_pe"]), pmts["adc_per_pe"], adc_per_pe * pmts["relative_gain"])
    return np.where(pmts["alive"], gains, 0.0)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def option_value(source, name: str):
    """An option's value from a plugin (its attribute: a correction resolved for its run) or a
    config dict of plain numbers."""
    return source[name] if isinstance(source, dict) else getattr(source, name)


def drift_time_ns(depth_cm, source):
    """Drift time of electrons from ``depth_cm`` below the gate [ns]; ``source``: the plugin
    (per-run values of correctable options) or a config dict."""
    return (depth_cm * 1e4 / option_value(source, "drift_velocity_um_per_ns")
            + option_value(source, "drift_time_gate_us") * 1e3)


def depth_cm(drift_time, source):
    """Depth below the gate of an interaction with this drift time [cm]."""
    return ((drift_time - option_value(source, "drift_time_gate_us") * 1e3)
            * option_value(source, "drift_velocity_um_per_ns") / 1e4)


def relative_s1_light_yield(x, y, depth, source):
    """S1 light yield at (x, y, depth) relative to the volume average; ``source``: the plugin
    (per-run values of correctable options) or a config dict."""
    r2 = (x**2 + y**2) / option_value(source, "tpc_radius_cm") ** 2
    return (
        1
        + option_value(source, "s1_light_yield_depth_gradient") * (depth / option_value(source, "tpc_length_cm") - 0.5)
        + option_value(source, "s1_light_yield_radial_gradient") * (r2 - 0.5)
    )
