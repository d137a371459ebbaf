"""minitpc: a small TPC registered with ddcore through the 'ddcore' entry point."""

from pathlib import Path

from ddcore.hookspecs import hookimpl
from ddcore.registry import Detector
from ddplugins.peaks.peak_basics import S1, UNKNOWN, PeakBasics
from ddplugins.tpc_chain import tpc_plugins


class StrictPeakBasics(PeakBasics):
    """minitpc never calls a peak with almost all its light on the top array an S1."""

    __version__ = "0.0.1"

    def classify(self, basics):
        types = super().classify(basics)
        types[(types == S1) & (basics["area_fraction_top"] > 0.9)] = UNKNOWN
        return types


@hookimpl
def ddcore_register_detectors():
    plugins = tuple(StrictPeakBasics if p is PeakBasics else p for p in tpc_plugins())
    return [
        Detector(
            name="minitpc",
            plugins=plugins,
            config_file=Path(__file__).with_name("minitpc.toml"),
            description="a throwaway 20 cm TPC (ddcore worked example)",
            default_preset="run1",
        )
    ]
