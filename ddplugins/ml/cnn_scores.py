"""``cnn_scores``: probability that an event is a WIMP, from the supervised CNN."""

import numpy as np
import strax

from ddcore.config import verify_file_hash
from ddplugins.ml.model_files import load_model, model_file_options
from ddplugins.ml.scoring import cnn_signal_probability
from ddplugins.tpc.options import DDPlugin


class CNNScores(DDPlugin):
    """Runs the CNN (``cnn_model_file``) on the image field its input layer names."""

    __version__ = "0.1.0"
    depends_on = "event_images"
    provides = "cnn_scores"
    data_kind = "events"

    cnn_model_file, cnn_model_sha256 = model_file_options("cnn_model", "CNN model (.keras)")

    dtype = strax.time_fields + [
        (("CNN probability that the event is a WIMP nuclear recoil", "cnn_score"), np.float32),
    ]

    def setup(self):
        verify_file_hash("cnn_model_file", self.cnn_model_file, self.cnn_model_sha256)
        self.model = load_model(self.cnn_model_file, "cnn")

    def compute(self, events):
        result = self.new_result(events)
        result["cnn_score"] = cnn_signal_probability(self.model, events)
        return result
