"""The anomaly search as an analysis on top of the data types: training of the CNN and CVAE,
the background calibration of the anomaly score (``calibrate``), the pyhf statistics, the
evaluation report and the demo. Nothing in the plugin packages imports it."""
