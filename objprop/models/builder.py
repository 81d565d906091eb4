"""Registries of the online test-time parts: trackers and fillers, built from config dicts
(``test_cfg.track`` and ``test_cfg.prop``) as mmtracking builds its trackers."""
from mmcv.utils import Registry, build_from_cfg

TRACKERS = Registry("tracker")
FILLERS = Registry("filler")


def build_tracker(cfg):
    """The tracker of ``test_cfg.track`` (default: MaskTrack R-CNN's)."""
    cfg = dict(cfg or {})
    cfg.setdefault("type", "MaskTrackTracker")
    return build_from_cfg(cfg, TRACKERS)


def build_filler(cfg):
    """The empty-instance filler of ``test_cfg.prop`` (default: this book's online one)."""
    cfg = dict(cfg or {})
    cfg.setdefault("type", "OnlineFiller")
    return build_from_cfg(cfg, FILLERS)
