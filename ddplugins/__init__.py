"""Detectors, analyses and commands for ddcore (strax plugins, one data type per module).

Everything here reaches ddcore through the ``ddcore`` entry points of this distribution; see
README.md in this folder for the layout rules.
"""
