"""The data room: YouTube-VIS files, the ToyVIS generator, real-data preparation, and the
mmdet dataset.

Importing ``objprop.data.dataset`` registers ``YouTubeVISDataset`` in mmdet's ``DATASETS``
registry (the configs' ``custom_imports`` do it). This package itself does not import it: the
generator and the JSON layer (``toyvis``, ``ytvis``, ``prepare``) need only numpy, Pillow and
pycocotools, so ``objprop evaluate`` and ``objprop make-toyvis`` start without loading torch.
"""
from .ytvis import (decode_segmentation, encode_mask, load_results, load_ytvis,  # noqa: F401
                    mask_to_bbox)
