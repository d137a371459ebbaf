"""The generic two-phase-TPC plugin chain, from simulated instructions to anomaly scores.

Detectors list it (``plugins=tpc_plugins()``) and configure it with their TOML file; a detector
that needs a different step replaces that plugin class in the tuple.
"""

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
    AnomalyFraction,
)


def tpc_plugins() -> tuple:
    """The plugin classes every simulated TPC uses, from instructions to anomaly scores."""
    return TPC_PLUGINS
