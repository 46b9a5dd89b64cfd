"""Command-line entry points for the RecoBeat simulator and tooling (``recobeat --help``)."""
