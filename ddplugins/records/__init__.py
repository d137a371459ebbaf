"""Processing plugins for the records data kind."""
