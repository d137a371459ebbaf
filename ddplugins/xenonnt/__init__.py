"""XENONnT: the second TPC. The generic TPC chain with its own geometry, physics (xenonnt.toml)
and models (models/). Registered as the ``xenonnt`` entry point."""

from pathlib import Path

from ddcore.hookspecs import hookimpl
from ddcore.registry import Detector


@hookimpl
def ddcore_register_detectors():
    from ddplugins.tpc_chain import tpc_plugins

    return [
        Detector(
            name="xenonnt",
            plugins=tpc_plugins(),
            config_file=Path(__file__).with_name("xenonnt.toml"),
            description="XENONnT two-phase xenon TPC, 494 PMTs (253 top); simulated SR0",
            default_preset="sr0",
        )
    ]
