"""XENONnT: the second TPC. Same simulator, processing and ML plugins as XENON1T, its own
geometry, physics configuration (configs/xenonnt.toml) and models."""

from ddcore.hookspecs import hookimpl
from ddcore.registry import Detector
from ddplugins import CONFIG_DIR
from ddplugins.xenon1t import tpc_plugins


@hookimpl
def ddcore_register_detectors():
    return [
        Detector(
            name="xenonnt",
            plugins=tpc_plugins(),
            config_file=CONFIG_DIR / "xenonnt.toml",
            description="XENONnT two-phase xenon TPC, 494 PMTs (253 top); simulated SR0",
            default_preset="sr0",
        )
    ]
