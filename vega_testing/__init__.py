"""Test servers that stand in for real services (not part of the vega-engine wheel:
setup.cfg packages only vega_runtime and vega_cli)."""
