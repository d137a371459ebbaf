"""3D CNN over polarisation stacks (seed: Golovatiuk, De Lellis, Ustyuzhanin), training with
random rotations of whole stacks, and the background-rejection vs efficiency evaluation."""

import numpy as np

from ddcore.log import import_keras

from ddplugins.newsdm import simulation

INPUT_NAME = "polarization_stack"


def build_cnn3d(image_size, filters=(16, 32), learning_rate=1e-3, seed=0):
    """Input (9, size, size, 1): 8 polarisations + the first again. Conv3D 3x3x3 blocks (valid in
    polarisation, same in space), 2x2 spatial pooling, global pooling, dense 32, sigmoid."""
    keras = import_keras()
    layers = keras.layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((simulation.N_POLARISATIONS + 1, image_size, image_size, 1), name=INPUT_NAME)
    x = inputs
    for n in filters:
        x = layers.Conv3D(n, (3, 3, 3), padding="same", activation="relu")(x)
        x = layers.MaxPooling3D((1, 2, 2))(x)
    x = layers.Conv3D(filters[-1], (3, 3, 3), padding="valid", activation="relu")(x)
    x = layers.GlobalAveragePooling3D()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="signal_probability")(x)
    model = keras.Model(inputs, outputs, name="newsdm_cnn3d")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    return model


def model_input(stacks):
    """(n, 8, h, w) stacks -> the model's (n, 9, h, w, 1) input with the periodic 9th image."""
    return simulation.periodic_stack(np.asarray(stacks, np.float32))[..., None]


def train(x_stacks, labels, x_val, y_val, epochs=10, batch_size=64, rotations=True, seed=0):
    """Train the 3D CNN; with ``rotations`` each epoch sees every stack at a new random angle."""
    keras = import_keras()

    model = build_cnn3d(x_stacks.shape[-1], seed=seed)
    rng = np.random.default_rng(seed)

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = rng.permutation(len(x_stacks))

        def __len__(self):
            return int(np.ceil(len(x_stacks) / batch_size))

        def __getitem__(self, i):
            index = self.order[i * batch_size : (i + 1) * batch_size]
            stacks = x_stacks[index]
            if rotations:
                stacks = simulation.rotate_stacks(rng, stacks)
            return model_input(stacks), labels[index]

        def on_epoch_end(self):
            self.order = rng.permutation(len(x_stacks))

    history = model.fit(Batches(), validation_data=(model_input(x_val), y_val), epochs=epochs, verbose=2)
    return model, history


def rejection_curve(signal_scores, background_scores, efficiencies=np.linspace(0.05, 0.95, 19)):
    """Background rejection (1 / background acceptance, inf when none passes) at signal efficiencies."""
    rows = []
    for eff in efficiencies:
        threshold = np.quantile(signal_scores, 1 - eff)
        passed = np.sum(background_scores >= threshold)
        rows.append((float(eff), len(background_scores) / passed if passed else float("inf"), int(passed)))
    return rows


def efficiency_at_rejection(signal_scores, background_scores, rejection=1e4):
    """Largest signal efficiency keeping background acceptance <= 1 / rejection (needs at least
    ``rejection`` background events to be meaningful; returns (efficiency, measurable))."""
    n_allowed = int(np.floor(len(background_scores) / rejection))
    threshold = np.sort(background_scores)[::-1][n_allowed] if n_allowed < len(background_scores) else -np.inf
    return float(np.mean(signal_scores > threshold)), len(background_scores) >= rejection
