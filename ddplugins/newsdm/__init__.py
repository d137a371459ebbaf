"""NEWSdm: directional dark-matter search with nuclear emulsions, read out optically under
polarised light. A detector that is not a TPC: no PMTs, no waveforms; track candidates imaged
at 8 polarisation angles and classified with a 3D CNN."""

from ddcore.hookspecs import hookimpl
from ddcore.registry import Detector
from ddplugins import CONFIG_DIR


@hookimpl
def ddcore_register_detectors():
    from ddplugins.newsdm.signal_probability import SignalProbability
    from ddplugins.newsdm.track_images import TrackImages

    return [
        Detector(
            name="newsdm",
            plugins=(TrackImages, SignalProbability),
            config_file=CONFIG_DIR / "newsdm.toml",
            description="NEWSdm nuclear-emulsion detector: track candidates under 8 polarisations",
            default_preset="run1",
        )
    ]
