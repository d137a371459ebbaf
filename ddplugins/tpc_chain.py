"""The generic two-phase-TPC plugin chain, from simulated instructions to anomaly scores.

Detectors list it (``plugins=tpc_plugins()``) and configure it with their TOML file; a detector
that needs a different step replaces that plugin class in the tuple. ``tpc_detector`` makes the
whole :class:`ddcore.registry.Detector` of a detector package that uses the chain as it is.
"""

import sys
from pathlib import Path

from ddcore.registry import Detector

from ddplugins.events.blinding_region import BlindingRegion
from ddplugins.events.event_basics import EventBasics
from ddplugins.events.event_hitpatterns import EventHitpatterns
from ddplugins.events.event_images import EventImages
from ddplugins.events.event_truth import EventTruth
from ddplugins.events.event_waveforms import EventWaveforms
from ddplugins.events.events import Events
from ddplugins.ml.anomaly_fraction import AnomalyFraction
from ddplugins.ml.anomaly_scores import AnomalyScores
from ddplugins.ml.cnn_scores import CNNScores
from ddplugins.ml.cvae_losses import CVAELosses
from ddplugins.peaks.lone_hits import LoneHits
from ddplugins.peaks.peak_basics import PeakBasics
from ddplugins.peaks.peaks import Peaks
from ddplugins.records.records import Records
from ddplugins.simulation.instructions import Instructions
from ddplugins.simulation.raw_records import SimulatedRawRecords

TPC_PLUGINS = (
    Instructions,
    SimulatedRawRecords,
    Records,
    Peaks,
    LoneHits,
    PeakBasics,
    Events,
    EventBasics,
    EventTruth,
    BlindingRegion,
    EventHitpatterns,
    EventWaveforms,
    EventImages,
    CNNScores,
    CVAELosses,
    AnomalyScores,
    AnomalyFraction,
)


def tpc_plugins() -> tuple:
    """The plugin classes every simulated TPC uses, from instructions to anomaly scores."""
    return TPC_PLUGINS


def tpc_detector(package: str, description: str, **options) -> Detector:
    """The detector of a package (``__name__`` of its ``__init__``) that runs the generic chain
    with the TOML file named after it beside its ``__init__``: ``ddplugins.xenonnt`` ->
    ``xenonnt``, configured by ``xenonnt/xenonnt.toml``, its per-run conditions in
    ``xenonnt/corrections.toml`` where there is one. ``options``: the other
    :class:`~ddcore.registry.Detector` fields (``default_preset``, ``is_default`` ...)."""
    name = package.rsplit(".", 1)[-1]
    folder = Path(sys.modules[package].__file__).parent
    corrections = folder / "corrections.toml"
    return Detector(name=name, plugins=tpc_plugins(), config_file=folder / f"{name}.toml", description=description,
                    corrections_file=corrections if corrections.exists() else None, **options)
