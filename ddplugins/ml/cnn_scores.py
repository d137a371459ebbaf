"""``cnn_scores``: probability that an event is a WIMP, from the supervised CNN."""

import numpy as np
import strax

from ddcore.files import file_options
from ddcore.plugins import ModelPlugin, model_detector_option
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.ml.scoring import EXTRA_INPUTS, cnn_signal_probability


class CNNScores(ModelPlugin):
    """Runs the CNN (``cnn_model_file``) on the image field its input layer names, and, where the
    model has further inputs for them, on the reconstructed quantities of ``event_basics`` and
    the main S1 waveform of ``event_waveforms``."""

    __version__ = "0.3.0"
    depends_on = ("event_images", "event_basics", "event_waveforms")
    provides = "cnn_scores"
    data_kind = "events"

    model_option, model_kind, model_inputs, model_outputs = "cnn_model", "cnn", tuple(IMAGE_FIELDS.values()), 1
    model_probability_output = True
    model_extra_inputs = EXTRA_INPUTS
    cnn_model_file, cnn_model_sha256 = file_options("cnn_model", "CNN model (.keras)")
    model_detector = model_detector_option()

    dtype = strax.time_fields + [
        (("CNN probability that the event is a WIMP nuclear recoil", "cnn_score"), np.float32),
    ]

    def compute(self, events):
        result = self.new_result(events)
        result["cnn_score"] = cnn_signal_probability(self.model, events)
        return result
