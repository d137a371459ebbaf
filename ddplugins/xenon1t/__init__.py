"""The XENON1T detector: simulated SR0/SR1 runs and the generic TPC processing chain."""

from pathlib import Path

from ddcore.hookspecs import hookimpl
from ddcore.registry import Detector

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def tpc_plugins():
    """The plugin classes every simulated TPC uses, from instructions to images."""
    from ddplugins.simulation.instructions import Instructions
    from ddplugins.simulation.raw_records import SimulatedRawRecords

    return (Instructions, SimulatedRawRecords)


@hookimpl
def ddcore_register_detectors():
    return [
        Detector(
            name="xenon1t",
            plugins=tpc_plugins(),
            config_file=CONFIG_DIR / "xenon1t.toml",
            description="XENON1T two-phase xenon TPC, 248 PMTs; simulated SR0 (default) and SR1",
            default_preset="sr0",
        )
    ]
