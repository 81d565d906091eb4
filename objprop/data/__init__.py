"""The data room: YouTube-VIS files, the ToyVIS generator, real-data preparation, and the
mmdet dataset.

Importing this package registers ``YouTubeVISDataset`` in mmdet's ``DATASETS`` registry
(``build_dataset(cfg.data.train)`` needs it), whenever mmdet is installed. The generator
and the JSON layer (``toyvis``, ``ytvis``, ``prepare``) need only numpy, Pillow and
pycocotools, so they keep working in an environment without mmdet.
"""
import importlib.util

from .ytvis import (decode_segmentation, encode_mask, load_results, load_ytvis,  # noqa: F401
                    mask_to_bbox)

if importlib.util.find_spec("mmdet") is not None:
    from .dataset import YouTubeVISDataset  # noqa: F401  (registers it)
