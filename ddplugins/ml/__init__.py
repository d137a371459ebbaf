"""Machine learning on event images: CNN classifier, convolutional VAE, anomaly scores.
Keras is imported through ``ddcore.log.import_keras`` when a model is first needed."""
