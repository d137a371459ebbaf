"""``anomaly_scores``: the semi-supervised anomaly score of every event, calibrated per category."""

import numpy as np
import strax

from ddcore.config import ConfigError
from ddcore.files import file_options
from ddcore.plugins import Checked, DDPlugin
from ddplugins.ml import calibration as cal
from ddplugins.ml import density
from ddplugins.ml.categories import CATEGORY_TITLE, categories
from ddplugins.tpc._options import FIDUCIAL_OPTIONS, tpc_options


class AnomalyScores(DDPlugin):
    """Per event: its category, the CNN's likelihood ratio, the CVAE's per-plane background tail
    probability, the tail probability of the learnt background density of the category (physics,
    CNN logit and CVAE plane errors together), the combined statistic, the anomaly score
    -log10 P_bkg(statistic >= observed) in the event's category, and a flag above the score that a fraction
    ``anomaly_background_acceptance`` of that category's background exceeds, capped at
    ``anomaly_max_background_flags_per_day`` expected background events (see
    ``ddplugins.ml.calibration``)."""

    __version__ = "0.4.0"
    depends_on = ("event_basics", "cnn_scores", "cvae_losses")
    provides = "anomaly_scores"
    data_kind = "events"

    anomaly_calibration_file, anomaly_calibration_sha256 = file_options(
        "anomaly_calibration", "Background calibration (JSON) made by 'ddcore train calibrate'"
    )
    # Not 1%: in the analysis space the NR-like backgrounds (neutrons, CEvNS, accidentals, wall
    # events leaking inwards) are ~1.1% of the background at their rates and as signal-like as
    # WIMPs to any score that finds WIMPs; a smaller budget is spent on them alone.
    anomaly_background_acceptance = Checked(above=0, below=1,
        default=0.03, type=(float, int), help="Fraction of each category's background flagged anomalous"
    )
    # 2 per 34.2 live days: what 3% of the analysis space's ~62 background events flag; the
    # no-S1 and 'other' categories hold ~4,800 and ~2,300, of which 3% would be ~140 and ~70
    anomaly_max_background_flags_per_day = Checked(above=0,
        default=0.06, type=(float, int),
        help="At most this many expected background events per live day are flagged in a category: "
        "its acceptance is lowered below anomaly_background_acceptance where that would flag more "
        "[events / live day]"
    )
    fiducial_radius_cm, fiducial_z_top_cm, fiducial_z_bottom_cm = tpc_options(*FIDUCIAL_OPTIONS)

    dtype = strax.time_fields + [
        ((CATEGORY_TITLE, "category"), np.int8),
        (("CVAE loss (mse + beta kl)", "cvae_loss"), np.float32),
        (("CNN probability of a WIMP", "cnn_score"), np.float32),
        (("log of the CNN's WIMP over background likelihood ratio", "cnn_log_likelihood_ratio"), np.float32),
        (("Background probability of plane errors this rare (Sidak over planes)", "cvae_tail_probability"),
         np.float32),
        (("Background probability of a density this low (mixture over physics, CNN and CVAE)",
          "density_tail_probability"), np.float32),
        (("Anomaly statistic: log((LR_cnn + B_density) / 2)", "anomaly_statistic"), np.float32),
        (("Anomaly score: -log10 background probability of the statistic in the category",
          "anomaly_score"), np.float32),
        (("Score above the category's background-acceptance threshold", "is_anomalous"), np.bool_),
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
        self.acceptances = cal.category_acceptances(self.calibration, self.anomaly_background_acceptance,
                                                    self.anomaly_max_background_flags_per_day)
        self.thresholds = cal.thresholds(self.calibration, self.acceptances)

    def compute(self, events):
        result = self.new_result(events)
        fiducial = (self.fiducial_radius_cm, self.fiducial_z_top_cm, self.fiducial_z_bottom_cm)
        category = categories(events, fiducial)
        log_lr, p_cvae, p_density, values = cal.statistic(events["cnn_score"], events["cvae_plane_mse"],
                                                          density.features(events), category, self.calibration)
        # scored and flagged as stored: the saved statistic gives back the score and the flag
        values = values.astype(np.float32)
        result["category"] = category
        result["cvae_loss"] = events["cvae_loss"]
        result["cnn_score"] = events["cnn_score"]
        result["cnn_log_likelihood_ratio"] = log_lr
        result["cvae_tail_probability"] = p_cvae
        result["density_tail_probability"] = p_density
        result["anomaly_statistic"] = values
        result["anomaly_score"] = cal.anomaly_score(values, category, self.calibration)
        result["is_anomalous"] = values > self.thresholds[category]
        return result
