#!/usr/bin/env python
"""Check a YouTube-VIS folder in the official layout and write the train_sub / minival
split carved from its train set (see objprop/data/prepare.py for the layouts accepted).

    python data_scripts/prepare_youtube_vis.py --root data/youtube_vis_2019
        [--out DIR] [--minival-videos N] [--seed 0] [--check-images exists|header|decode]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from objprop.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["prepare", *sys.argv[1:]]))
