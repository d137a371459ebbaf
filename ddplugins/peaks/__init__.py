"""Processing plugins for the peaks data kind."""
