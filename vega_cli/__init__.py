"""The ``vega`` command line."""
