"""Keras models: the CNN of arXiv:1911.09210 and the convolutional VAE of Herrero-Garcia et al.

Both are functional models whose input layer is named after the ``event_images`` field they read
(``hit_image``, ``peak_image`` or ``hitpeak_image``), so a saved model says what it expects.
"""

from ddcore.log import import_keras
from ddplugins.ml.scoring import PHYSICS_FEATURES, PHYSICS_FEATURES_INPUT, S1_WAVEFORM_INPUT

keras = import_keras()
layers, regularizers = keras.layers, keras.regularizers

CVAE_PRESETS = {
    # a few seconds per epoch on 2 CPU cores
    "compact": dict(filters=32, latent_dim=32),
    # the slides: 128 filters 3x3 stride 3, latent 256 means + 256 std devs (~61 M parameters)
    "paper": dict(filters=128, latent_dim=256),
}


def _image_input(field, shape):
    shape = tuple(shape) if len(shape) == 3 else (*shape, 1)
    return keras.Input(shape=shape, name=field)


def build_cnn(field, image_shape, n_conv_layers=2, filters=16, leaky_alpha=0.05,
              learning_rate=1e-3, conv_l2=0.005, dense_l2=0.001, seed=0, feature_scale=None,
              s1_waveform_samples=None):
    """Conv(16, 3x3, L2) + LeakyReLU + 2x2 max-pool + dropout 0.25, repeated; dense 32 (L2),
    dropout 0.5, sigmoid; Adam, binary cross-entropy.

    ``feature_scale`` (means, variances of the reconstructed quantities
    ``scoring.PHYSICS_FEATURES``) adds a second input, standardised inside the model, passed
    through a dense layer of 32 and joined to the flattened image features before the dense 32:
    the images carry no position or drift-time correction; cS1, cS2_b, drift time and (x, y) do.

    ``s1_waveform_samples`` adds an input for the main S1's waveform at full resolution (unit
    area, ``scoring.s1_waveform_shapes``): two 1-D convolutions (8 filters of 5 samples,
    LeakyReLU, max-pool 2) and a dense layer of 16, joined likewise. The Peak and HitPeak images
    draw the S1 in a third to a half of their columns at log amplitude; the ER/NR pulse-shape
    difference (singlet/triplet share) lies in a few samples of linear amplitude.
    """
    keras.utils.set_random_seed(seed)
    image = _image_input(field, image_shape)
    inputs = [image]
    x = image
    for _ in range(n_conv_layers):
        x = layers.Conv2D(filters, 3, padding="same", kernel_regularizer=regularizers.l2(conv_l2))(x)
        x = layers.LeakyReLU(negative_slope=leaky_alpha)(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    if feature_scale is not None:
        features = keras.Input(shape=(len(PHYSICS_FEATURES),), name=PHYSICS_FEATURES_INPUT)
        mean, variance = feature_scale
        f = layers.Normalization(mean=list(mean), variance=list(variance))(features)
        f = layers.Dense(32)(f)
        f = layers.LeakyReLU(negative_slope=leaky_alpha)(f)
        x = layers.Concatenate()([x, f])
        inputs.append(features)
    if s1_waveform_samples:
        waveform = keras.Input(shape=(int(s1_waveform_samples),), name=S1_WAVEFORM_INPUT)
        w = layers.Rescaling(float(s1_waveform_samples))(waveform)  # unit area -> O(1) per sample
        w = layers.Reshape((int(s1_waveform_samples), 1))(w)
        for _ in range(2):
            w = layers.Conv1D(8, 5, padding="same")(w)
            w = layers.LeakyReLU(negative_slope=leaky_alpha)(w)
            w = layers.MaxPooling1D(2)(w)
        w = layers.Dense(16)(layers.Flatten()(w))
        w = layers.LeakyReLU(negative_slope=leaky_alpha)(w)
        x = layers.Concatenate()([x, w])
        inputs.append(waveform)
    x = layers.Dense(32, kernel_regularizer=regularizers.l2(dense_l2))(x)
    x = layers.LeakyReLU(negative_slope=leaky_alpha)(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="signal_probability")(x)
    model = keras.Model(inputs if len(inputs) > 1 else image, outputs, name="cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    return model


def build_cvae_parts(field, image_shape, filters, latent_dim, leaky_alpha=0.05, seed=0):
    """(encoder, decoder): encoder image -> (z_mean, z_log_var); decoder z -> image in [0, 1].

    Encoder: Conv(filters, 3x3, stride 3) + LeakyReLU, flatten, dense to the latent means and
    log variances; the decoder mirrors it (dense, reshape, transposed conv with stride 3).
    """
    keras.utils.set_random_seed(seed)
    inputs = _image_input(field, image_shape)
    height, width, channels = inputs.shape[1:]
    if height % 3 or width % 3:
        raise ValueError(f"CVAE input {height}x{width} must be divisible by the stride 3")
    x = layers.Conv2D(filters, 3, strides=3, padding="same")(inputs)
    x = layers.LeakyReLU(negative_slope=leaky_alpha)(x)
    x = layers.Flatten()(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")

    latent = keras.Input(shape=(latent_dim,), name="z")
    y = layers.Dense((height // 3) * (width // 3) * filters)(latent)
    y = layers.LeakyReLU(negative_slope=leaky_alpha)(y)
    y = layers.Reshape((height // 3, width // 3, filters))(y)
    outputs = layers.Conv2DTranspose(channels, 3, strides=3, padding="same", activation="sigmoid")(y)
    decoder = keras.Model(latent, outputs, name="decoder")
    return encoder, decoder


class VAETrainer(keras.Model):
    """Trains encoder + decoder with loss = MSE + beta * sum(sigma^2 + mu^2 - log sigma^2 - 1) / 2."""

    def __init__(self, encoder, decoder, beta, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = beta
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mse_tracker = keras.metrics.Mean(name="mse")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.loss_tracker, self.mse_tracker, self.kl_tracker]

    def _vae_losses(self, images, training):
        from keras import ops

        z_mean, z_log_var = self.encoder(images, training=training)
        noise = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * noise
        reconstruction = self.decoder(z, training=training)
        mse = ops.mean(ops.square(images - reconstruction), axis=(1, 2, 3))
        kl = 0.5 * ops.sum(ops.exp(z_log_var) + ops.square(z_mean) - z_log_var - 1, axis=1)
        return mse, kl

    def train_step(self, images):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            mse, kl = self._vae_losses(images, training=True)
            loss = keras.ops.mean(mse + self.beta * kl)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._track(loss, mse, kl)

    def test_step(self, images):
        mse, kl = self._vae_losses(images, training=False)
        return self._track(keras.ops.mean(mse + self.beta * kl), mse, kl)

    def _track(self, loss, mse, kl):
        self.loss_tracker.update_state(loss)
        self.mse_tracker.update_state(mse)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}


def cvae_inference_model(encoder, decoder):
    """Deterministic scoring model: image -> (z_mean, z_log_var, reconstruction of the mean)."""
    inputs = encoder.inputs[0]
    z_mean, z_log_var = encoder(inputs)
    reconstruction = decoder(z_mean)
    return keras.Model(inputs, [z_mean, z_log_var, reconstruction], name="cvae")
