"""Analyses on top of the TPC data types (straxen keeps these in ``straxen/analyses``): event
displays, the simulator validation, the data sets of runs and the classifier figures of merit
the search builds on. Their commands are in ``ddplugins.commands.analyses``."""
