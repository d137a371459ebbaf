"""Analyses on top of the TPC data types (straxen keeps these in ``straxen/analyses``): event
displays and the simulator validation. Their commands are in ``ddplugins.analyses.commands``."""
