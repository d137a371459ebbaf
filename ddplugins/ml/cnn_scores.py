"""``cnn_scores``: probability that an event is a WIMP, from the supervised CNN."""

import numpy as np
import strax

from ddcore.config import verify_file_hash
from ddplugins.ml.model_files import load_model
from ddplugins.ml.scoring import cnn_signal_probability
from ddplugins.tpc.options import DDPlugin


class CNNScores(DDPlugin):
    """Runs the CNN (``cnn_model_file``) on the image field its input layer names."""

    __version__ = "0.1.0"
    depends_on = "event_images"
    provides = "cnn_scores"
    data_kind = "events"

    cnn_model_file = strax.Config(
        default="", type=str, track=False, help="CNN model (.keras); its SHA-256 is tracked"
    )
    cnn_model_sha256 = strax.Config(
        default="", type=str, help="SHA-256 of cnn_model_file (ddcore.context computes it)"
    )

    dtype = strax.time_fields + [
        (("CNN probability that the event is a WIMP nuclear recoil", "cnn_score"), np.float32),
    ]

    def setup(self):
        verify_file_hash("cnn_model_file", self.cnn_model_file, self.cnn_model_sha256)
        self.model = load_model(self.cnn_model_file, "cnn")

    def compute(self, events):
        result = np.zeros(len(events), self.dtype)
        result["time"], result["endtime"] = events["time"], events["endtime"]
        result["cnn_score"] = cnn_signal_probability(self.model, events)
        return result
