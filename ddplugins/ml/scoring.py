"""Applying models to event images, chunk by chunk."""

import numpy as np

from ddcore.models import predict

# Events per inference call. Activations take ~3 MB per image: on a 10,000-event run to
# anomaly_scores batches of 128 / 512 peaked 80 / 360 MiB higher than 64, none faster on CPU;
# 32 was no lower. The scores do not depend on it (byte-identical for 32, 64 and 128).
PREDICT_BATCH = 64

# The reconstructed quantities a CNN with a second input reads (``event_basics``), in this order.
# Events without them (no S1: no cS1, drift time or corrected S2) read 0.
PHYSICS_FEATURES_INPUT = "physics_features"
PHYSICS_FEATURES = ("cs1", "log10_cs2_bottom", "drift_time_us", "x", "y")
# A CNN may also read the main S1's summed waveform (``event_waveforms``) at full resolution,
# scaled to unit area: its shape, not its size (cS1 is among the physics features).
S1_WAVEFORM_INPUT = "s1_waveform"
EXTRA_INPUTS = (PHYSICS_FEATURES_INPUT, S1_WAVEFORM_INPUT)


def physics_features(events):
    """(n, 5) float32: cS1 [PE], log10 cS2_b [PE], drift time [us], x, y [cm]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = (
            events["cs1"],
            np.log10(np.asarray(events["cs2_bottom"], np.float64)),
            np.asarray(events["drift_time"], np.float64) / 1e3,
            events["x"],
            events["y"],
        )
    matrix = np.column_stack([np.asarray(c, np.float64) for c in columns])
    return np.nan_to_num(matrix, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def s1_waveform_shapes(events, n_samples=None):
    """(n, samples) float32: the main S1 waveform of each event divided by its area; zeros
    for events without an S1. ``n_samples``: the length a model expects (checked)."""
    waveforms = np.asarray(events["s1_waveform"], np.float64)
    if n_samples is not None and waveforms.shape[1] != n_samples:
        raise ValueError(
            f"Model expects {S1_WAVEFORM_INPUT} of {n_samples} samples, event_waveforms has "
            f"{waveforms.shape[1]}: set event_waveform_samples={n_samples} (and the S1 window the "
            "model was trained with)")
    area = waveforms.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shapes = np.where(area > 0, waveforms / area, 0.0)
    return shapes.astype(np.float32)


def model_inputs(model, events, images=None):
    """What ``model.predict`` takes for ``events``: the image batch (``images``, if already made
    from them), and the physics features and S1 waveform shape where the model has those
    further inputs."""
    field = model.inputs[0].name
    if images is None:
        images = image_batch(events, field, model)
    if len(model.inputs) == 1:
        return images
    found = {field: images}
    for extra in model.inputs[1:]:
        if extra.name == PHYSICS_FEATURES_INPUT:
            found[extra.name] = physics_features(events)
        elif extra.name == S1_WAVEFORM_INPUT:
            found[extra.name] = s1_waveform_shapes(events, extra.shape[1])
        else:
            raise ValueError(f"Model input {extra.name!r} is none of {', '.join(EXTRA_INPUTS)}")
    return found


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


def cnn_signal_probability(model, events):
    if not len(events):
        return np.zeros(0, np.float32)
    return predict(model, model_inputs(model, events), batch_size=PREDICT_BATCH)[:, 0]


MAX_PLANES = 3  # HitPeak images: S2 top, S1 bottom, peak


def cvae_losses(model, images, beta):
    """(mse, kl, loss = mse + beta * kl, mse per colour plane) per image, reconstructing from
    the latent means; planes an image does not have are NaN."""
    field = model.inputs[0].name
    planes = np.full((len(images), MAX_PLANES), np.nan, np.float32)
    if not len(images):
        empty = np.zeros(0, np.float32)
        return empty, empty, empty, planes
    data = image_batch(images, field, model)
    z_mean, z_log_var, reconstruction = predict(model, data, batch_size=PREDICT_BATCH)
    per_plane = np.mean((data - reconstruction) ** 2, axis=(1, 2))
    planes[:, :per_plane.shape[1]] = per_plane
    mse = per_plane.mean(axis=1)
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - z_log_var - 1, axis=1)
    return mse, kl, mse + beta * kl, planes
