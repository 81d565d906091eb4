#!/usr/bin/env python
"""Write the ToyVIS synthetic data set (same as `objprop make-toyvis`).

    python data_scripts/make_toyvis.py --out data/toyvis [--seed 0] [--train-videos 60]
        [--valid-videos 15] [--frames 12-24] [--height 160] [--width 288]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from objprop.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["make-toyvis", *sys.argv[1:]]))
