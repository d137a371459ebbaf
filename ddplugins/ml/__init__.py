"""Machine learning on event images: CNN classifier, convolutional VAE, anomaly scores."""

import os

# Quiet TensorFlow's C++ start-up logging before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
