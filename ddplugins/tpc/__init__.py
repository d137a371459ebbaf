"""Pieces shared by every two-phase TPC: option groups, PMT layouts, detector response model."""
