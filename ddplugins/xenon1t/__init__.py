"""The XENON1T detector: simulated SR0/SR1 runs and the generic TPC processing chain."""

from ddcore.hookspecs import hookimpl
from ddcore.registry import Detector
from ddplugins import CONFIG_DIR


def tpc_plugins():
    """The plugin classes every simulated TPC uses, from instructions to images."""
    from ddplugins.events.event_basics import EventBasics
    from ddplugins.events.event_hitpatterns import EventHitpatterns
    from ddplugins.events.event_images import EventImages
    from ddplugins.events.event_truth import EventTruth
    from ddplugins.events.event_waveforms import EventWaveforms
    from ddplugins.events.events import Events
    from ddplugins.ml.anomaly_scores import AnomalyScores
    from ddplugins.ml.cnn_scores import CNNScores
    from ddplugins.ml.cvae_losses import CVAELosses
    from ddplugins.peaks.peak_basics import PeakBasics
    from ddplugins.peaks.peaks import Peaks
    from ddplugins.records.records import Records
    from ddplugins.simulation.instructions import Instructions
    from ddplugins.simulation.raw_records import SimulatedRawRecords

    return (
        Instructions,
        SimulatedRawRecords,
        Records,
        Peaks,
        PeakBasics,
        Events,
        EventBasics,
        EventTruth,
        EventHitpatterns,
        EventWaveforms,
        EventImages,
        CNNScores,
        CVAELosses,
        AnomalyScores,
    )


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
