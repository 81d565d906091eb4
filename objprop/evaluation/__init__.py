"""Evaluation: the 12 YouTube-VIS stats (parity with the official evaluator) and the
temporal-stability metrics. Needs numpy and pycocotools only (no torch)."""
from .files import evaluate_files, format_table
from .stability import flicker_count, stability_by_frame_kind, stability_metrics
from .ytvis_eval import AREA_LABELS, AREA_RANGES, STAT_NAMES, ytvis_evaluate

__all__ = ["AREA_LABELS", "AREA_RANGES", "STAT_NAMES", "evaluate_files", "flicker_count",
           "format_table", "stability_by_frame_kind", "stability_metrics", "ytvis_evaluate"]
