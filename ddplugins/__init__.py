"""Detector and analysis plugins for ddcore (strax plugins, one data type per module)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
