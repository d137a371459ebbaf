"""``signal_probability``: 3D-CNN probability that a NEWSdm track candidate is a nuclear recoil."""

import numpy as np
import strax

from ddcore.config import verify_file_hash
from ddplugins.ml.model_files import load_model, model_file_options
from ddplugins.newsdm.cnn3d import model_input
from ddplugins.tpc.options import DDPlugin


class SignalProbability(DDPlugin):
    """Applies the 3D CNN (``newsdm_model_file``) to the polarisation stacks."""

    __version__ = "0.1.0"
    depends_on = "track_images"
    provides = "signal_probability"
    data_kind = "tracks"

    newsdm_model_file, newsdm_model_sha256 = model_file_options("newsdm_model", "3D CNN model (.keras)")

    dtype = strax.time_fields + [
        (("Probability that the track is a nuclear recoil", "signal_probability"), np.float32),
    ]

    def setup(self):
        verify_file_hash("newsdm_model_file", self.newsdm_model_file, self.newsdm_model_sha256)
        self.model = load_model(self.newsdm_model_file, "newsdm_cnn3d", input_names=("polarization_stack",))

    def compute(self, tracks):
        result = self.new_result(tracks)
        if len(tracks):
            result["signal_probability"] = self.model.predict(
                model_input(tracks["polarization_images"]), batch_size=256, verbose=0
            )[:, 0]
        return result
