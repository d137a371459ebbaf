"""Detector and analysis plugins for ddcore (strax plugins, one data type per module)."""
