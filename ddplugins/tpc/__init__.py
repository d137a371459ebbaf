"""Pieces shared by every two-phase TPC: the plugin chain (``chain``), shared options and
physics helpers (``_options``), PMT layouts (``_geometry``)."""
