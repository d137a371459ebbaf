"""XENONnT: the second TPC. The generic TPC chain with its own geometry, physics (xenonnt.toml)
and models (models/). Registered as the ``xenonnt`` entry point."""

from ddcore.hookspecs import hookimpl


@hookimpl
def ddcore_register_detectors():
    from ddplugins.tpc_chain import tpc_detector

    return [tpc_detector(__name__, "XENONnT two-phase xenon TPC, 494 PMTs (253 top); simulated SR0",
                         default_preset="sr0")]
