"""Run the command line as ``python -m pgrender`` (the console script's entry: record.main)."""

from pgrender.record import main

main()
