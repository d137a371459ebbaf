"""``cvae_losses``: how badly the background-trained convolutional VAE reconstructs an event."""

import numpy as np
import strax

from ddcore.files import file_options
from ddcore.plugins import Checked, ModelPlugin, model_detector_option
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.ml.scoring import MAX_PLANES, cvae_losses


class CVAELosses(ModelPlugin):
    """Reconstruction MSE (decoding the latent means) of the image and of each colour plane, KL
    divergence of the latent posterior from the unit Gaussian, and the loss MSE + ``cvae_beta`` *
    KL. The per-plane errors let the anomaly score see a missing S1: the S1 plane is a small part
    of the whole image's error."""

    __version__ = "0.2.0"
    depends_on = "event_images"
    provides = "cvae_losses"
    data_kind = "events"

    # outputs: latent means, latent log-variances, reconstruction
    model_option, model_kind, model_inputs, model_outputs = "cvae_model", "cvae", tuple(IMAGE_FIELDS.values()), 3
    cvae_model_file, cvae_model_sha256 = file_options("cvae_model", "CVAE model (.keras)")
    model_detector = model_detector_option()
    cvae_beta = Checked(minimum=0,
        default=1e-4, type=(float, int), help="Weight of the KL term in the CVAE loss"
    )

    dtype = strax.time_fields + [
        (("CVAE reconstruction mean squared error per pixel", "cvae_mse"), np.float32),
        (("CVAE KL divergence of the latent posterior", "cvae_kl"), np.float32),
        (("CVAE loss: mse + beta * kl", "cvae_loss"), np.float32),
        (("CVAE reconstruction mean squared error per colour plane (HitPeak: S2 top, S1 bottom, "
          "peak; NaN: plane absent)", "cvae_plane_mse"), np.float32, (MAX_PLANES,)),
    ]

    def compute(self, events):
        result = self.new_result(events)
        (result["cvae_mse"], result["cvae_kl"], result["cvae_loss"],
         result["cvae_plane_mse"]) = cvae_losses(
            self.model, events, self.cvae_beta
        )
        return result
