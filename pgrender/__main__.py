"""Run the command line as ``python -m pgrender``."""

from pgrender.cli import main

main()
