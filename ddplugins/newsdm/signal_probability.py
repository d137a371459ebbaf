"""``signal_probability``: 3D-CNN probability that a NEWSdm track candidate is a nuclear recoil."""

import numpy as np
import strax

from ddcore.files import file_options
from ddcore.models import predict
from ddcore.plugins import ModelPlugin, model_detector_option
from ddplugins.newsdm.cnn3d import INPUT_NAME, model_input


class SignalProbability(ModelPlugin):
    """Applies the 3D CNN (``newsdm_model_file``) to the polarisation stacks."""

    __version__ = "0.1.0"
    depends_on = "track_images"
    provides = "signal_probability"
    data_kind = "tracks"

    model_option, model_kind, model_inputs, model_outputs = "newsdm_model", "newsdm_cnn3d", (INPUT_NAME,), 1
    model_probability_output = True
    newsdm_model_file, newsdm_model_sha256 = file_options("newsdm_model", "3D CNN model (.keras)")
    model_detector = model_detector_option()

    dtype = strax.time_fields + [
        (("Probability that the track is a nuclear recoil", "signal_probability"), np.float32),
    ]

    def compute(self, tracks):
        result = self.new_result(tracks)
        if len(tracks):
            result["signal_probability"] = predict(
                self.model, model_input(tracks["polarization_images"]), batch_size=256
            )[:, 0]
        return result
