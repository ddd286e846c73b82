"""``python -m vega_cli ARGS``: the ``vega`` command, for an environment whose scripts
directory is not on PATH."""

from .main import main

main()
