"""``anomaly_scores``: CVAE loss, CNN score and their combined semi-supervised anomaly score."""

import numpy as np
import strax

from ddcore.config import ConfigError
from ddcore.files import file_options
from ddcore.plugins import Checked, DDPlugin
from ddplugins.ml import calibration as cal


class AnomalyScores(DDPlugin):
    """Per event: the CVAE loss, the CNN score, their background tail probabilities, the combined
    score -log10(p_cvae * p_cnn) and a flag at the threshold that lets through a fraction
    ``anomaly_background_acceptance`` of background (see ``ddplugins.ml.calibration``)."""

    __version__ = "0.1.0"
    depends_on = ("cnn_scores", "cvae_losses")
    provides = "anomaly_scores"
    data_kind = "events"

    anomaly_calibration_file, anomaly_calibration_sha256 = file_options(
        "anomaly_calibration", "Background calibration (JSON) made by 'ddcore train calibrate'"
    )
    anomaly_background_acceptance = Checked(above=0, below=1, 
        default=0.01, type=(float, int), help="Fraction of background events flagged anomalous"
    )

    dtype = strax.time_fields + [
        (("CVAE loss (mse + beta kl)", "cvae_loss"), np.float32),
        (("CNN probability of a WIMP", "cnn_score"), np.float32),
        (("Background probability of a CVAE loss at least this large", "cvae_tail_probability"), np.float32),
        (("Background probability of a CNN score at least this large", "cnn_tail_probability"), np.float32),
        (("Combined score -log10(p_cvae * p_cnn)", "anomaly_score"), np.float32),
        (("Score above the background-acceptance threshold", "is_anomalous"), np.bool_),
    ]

    def setup(self):
        path = self.verified_file("anomaly_calibration_file")
        self.calibration = cal.read_calibration(path)
        for dep, option in (("cnn_scores", "cnn_model_sha256"), ("cvae_losses", "cvae_model_sha256")):
            used = self.deps[dep].config[option]
            if self.calibration[option] != used:
                raise ConfigError(
                    f"Calibration {self.anomaly_calibration_file} was made for a {dep} model with "
                    f"SHA-256 {self.calibration[option][:12]}..., this context uses {used[:12]}...: "
                    "run 'ddcore train calibrate' for the current models"
                )
        used_beta = self.deps["cvae_losses"].config["cvae_beta"]
        if float(self.calibration["cvae_beta"]) != float(used_beta):
            raise ConfigError(
                f"Calibration {path} was made with cvae_beta={self.calibration['cvae_beta']}, this "
                f"context sets cvae_beta={used_beta}: the loss distributions differ; set cvae_beta="
                f"{self.calibration['cvae_beta']} or run 'ddcore train calibrate' with the new value"
            )
        self.threshold = cal.threshold_for(self.calibration, self.anomaly_background_acceptance)

    def compute(self, events):
        result = self.new_result(events)
        result["cvae_loss"] = events["cvae_loss"]
        result["cnn_score"] = events["cnn_score"]
        p_cvae, p_cnn, score = cal.combined_score(events["cvae_loss"], events["cnn_score"], self.calibration)
        result["cvae_tail_probability"] = p_cvae
        result["cnn_tail_probability"] = p_cnn
        result["anomaly_score"] = score
        result["is_anomalous"] = score > self.threshold
        return result
