"""Processing plugins for the events data kind."""
