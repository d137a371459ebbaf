"""The XENON1T detector: the generic TPC chain with XENON1T's geometry, physics (xenon1t.toml,
presets sr0 and sr1) and models (models/). Registered as the ``xenon1t`` entry point."""

from ddcore.hookspecs import hookimpl


@hookimpl
def ddcore_register_detectors():
    from ddplugins.tpc_chain import tpc_detector

    return [tpc_detector(__name__, "XENON1T two-phase xenon TPC, 248 PMTs; simulated SR0 (default) and SR1",
                         default_preset="sr0", is_default=True)]
