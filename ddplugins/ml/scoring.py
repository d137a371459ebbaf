"""Applying models to event images, chunk by chunk."""

import numpy as np

PREDICT_BATCH = 128  # larger batches cost ~3 MB of activations per image for little speed


def image_batch(images, field, model):
    """The images a model reads, shaped as its input (a channel axis for 2-D images)."""
    data = np.asarray(images[field], np.float32)
    expected = tuple(model.inputs[0].shape[1:])
    if data.ndim == 3:
        data = data[..., None]
    if data.shape[1:] != expected:
        raise ValueError(
            f"Model expects {field} of shape {expected}, event_images has {data.shape[1:]}: "
            "the image options differ from the ones the model was trained with"
        )
    return data


def cnn_signal_probability(model, images):
    field = model.inputs[0].name
    if not len(images):
        return np.zeros(0, np.float32)
    return model.predict(image_batch(images, field, model), batch_size=PREDICT_BATCH, verbose=0)[:, 0]


def cvae_losses(model, images, beta):
    """(mse, kl, loss = mse + beta * kl) per image, reconstructing from the latent means."""
    field = model.inputs[0].name
    if not len(images):
        empty = np.zeros(0, np.float32)
        return empty, empty, empty
    data = image_batch(images, field, model)
    z_mean, z_log_var, reconstruction = model.predict(data, batch_size=PREDICT_BATCH, verbose=0)
    mse = np.mean((data - reconstruction) ** 2, axis=(1, 2, 3))
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - z_log_var - 1, axis=1)
    return mse, kl, mse + beta * kl
