"""``cnn_scores``: probability that an event is a WIMP, from the supervised CNN."""

import numpy as np
import strax

from ddcore.files import file_options
from ddcore.plugins import ModelPlugin, model_detector_option
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.ml.scoring import PHYSICS_FEATURES_INPUT, cnn_signal_probability


class CNNScores(ModelPlugin):
    """Runs the CNN (``cnn_model_file``) on the image field its input layer names, and on the
    reconstructed quantities of ``event_basics`` where the model has a second input for them."""

    __version__ = "0.2.0"
    depends_on = ("event_images", "event_basics")
    provides = "cnn_scores"
    data_kind = "events"

    model_option, model_kind, model_inputs, model_outputs = "cnn_model", "cnn", tuple(IMAGE_FIELDS.values()), 1
    model_extra_inputs = (PHYSICS_FEATURES_INPUT,)
    cnn_model_file, cnn_model_sha256 = file_options("cnn_model", "CNN model (.keras)")
    model_detector = model_detector_option()

    dtype = strax.time_fields + [
        (("CNN probability that the event is a WIMP nuclear recoil", "cnn_score"), np.float32),
    ]

    def compute(self, events):
        result = self.new_result(events)
        result["cnn_score"] = cnn_signal_probability(self.model, events)
        return result
