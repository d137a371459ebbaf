"""The anomaly search as an analysis on top of the data types: training of the CNN and CVAE,
the background calibration of the anomaly score (``calibrate``), the pyhf statistics, the
evaluation report and the demo. Nothing in the plugin packages imports it."""

import logging

# pyhf logs every minimisation that fails at ERROR level, with the minimiser's whole result and a
# traceback, before it raises FailedMinimization. Every fit here either catches that and reports
# the failures itself (toy and bootstrap fits counted and left out, MINUIT retried with scipy) or
# lets the exception, which carries the result, reach the user: pyhf's own log of it only made
# a successful run look like a crash.
logging.getLogger("pyhf.optimize.mixins").setLevel(logging.CRITICAL)
