"""The commands ddplugins adds to the ``ddcore`` command line (``ddcore_register_commands`` hooks):
``search`` (train, grid-search, evaluate, report, demo) and ``analyses`` (show, validate-sim).
Each is an entry point of this distribution; commands sit above everything they call."""
