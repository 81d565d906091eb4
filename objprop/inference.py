"""Online inference over a split: frames in order → tracks → YouTube-VIS results.

Used by ``objprop test``, the oracle study and the book. The model sees one frame at a time
and never a future frame; a video's results are assembled once its last frame is done.
"""
from collections import defaultdict

from .config import CfgOptionsAction
from .errors import ObjPropError


def has_filling(model):
    """Whether ``model`` fills missed instances at test time (ObjProp: a ``filler``)."""
    return hasattr(model, "filler")


def set_max_fill(model, max_fill):
    """Set how many frames a track may be filled in a row (0: filling off, same weights);
    returns the previous value (None, and nothing changed, for a model without filling)."""
    if not has_filling(model):
        return None
    old = model.filler.max_fill
    model.filler.max_fill = max_fill
    return old


TEST_PRECISIONS = ("float32", "bfloat16")


def test_precision_options(cfg, precision):
    """``--cfg-options`` that run ``cfg``'s model at test time in ``precision`` (one of
    :data:`TEST_PRECISIONS`): its backbone and FPN (``model.test_feat_dtype``) and, where it
    has one, its propagation head's mask convolutions (``model.prop_head.test_conv_dtype``);
    float32 is None (no autocast)."""
    return _precision_options(cfg, precision, "test")


def train_precision_options(cfg, precision):
    """The same while training: ``model.train_feat_dtype`` and
    ``model.prop_head.train_conv_dtype``."""
    return _precision_options(cfg, precision, "train")


def _precision_options(cfg, precision, phase):
    if precision not in TEST_PRECISIONS:
        raise ValueError(f"precision must be one of {TEST_PRECISIONS}, not {precision!r}")
    dtype = None if precision == "float32" else precision
    options = {f"model.{phase}_feat_dtype": dtype}
    if "prop_head" in cfg.model:
        options[f"model.prop_head.{phase}_conv_dtype"] = dtype
    return options


def build_model(cfg, checkpoint=None, device="cpu"):
    """An mmdet detector from ``cfg`` (registries filled by importing objprop.models),
    with ``checkpoint``'s weights, on ``device``.

    The device is checked first, before anything is built: ``cuda`` without a visible GPU
    (or a name torch does not know) is one ``ObjPropError`` line. An unreadable or foreign
    checkpoint is one line naming it (``objprop.checkpoint.load_model_checkpoint``).
    """
    import torch
    import objprop.models  # noqa: F401  (registers the heads and detectors)
    from mmdet.models import build_detector
    from .checkpoint import load_model_checkpoint
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ObjPropError(f"--device {device}: not a torch device (use cpu, cuda or "
                           f"cuda:N)")
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ObjPropError(f"--device {device}: no CUDA GPU visible "
                               f"(torch.cuda.is_available() is False); use --device cpu")
        if dev.index is not None and dev.index >= n:
            raise ObjPropError(f"--device {device}: only {n} CUDA GPU(s) visible "
                               f"(cuda:0..cuda:{n - 1})")
    model = build_detector(cfg.model)
    if checkpoint is not None:
        ckpt = load_model_checkpoint(model, checkpoint)
        meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
        if "CLASSES" in meta:
            model.CLASSES = meta["CLASSES"]
    model.cfg = cfg
    return model.to(device).eval()


def build_test_dataset(cfg):
    """The config's test split, checked against its model's number of classes."""
    import objprop.data.dataset  # noqa: F401  (registers YouTubeVISDataset)
    from mmdet.datasets import build_dataset
    from .config import check_num_classes
    cfg.data.test.test_mode = True
    dataset = build_dataset(cfg.data.test)
    check_num_classes(cfg, dataset.CLASSES, cfg.data.test.ann_file)
    return dataset


class TrackAccumulator:
    """Collects one video's per-frame outputs into tracks, encoding masks as they come.

    ``results`` writes them as MaskTrack R-CNN's ``results2json_videoseg`` does
    (youtubevos/MaskTrackRCNN ``mmdet/core/evaluation/coco_utils.py`` lines 165–206): a
    track's category is the label it has in the most frames (``np.bincount(...).argmax()``:
    ties go to the smaller label), its score the mean of its frame scores. ``min_frames=2``
    drops one-frame tracks as the ObjProp authors' copy of that function does
    (anirudh-chakravarthy/ObjProp ``mmdet/core/evaluation/coco_utils.py`` lines 231–232).
    """

    def __init__(self, video, categories, min_frames=1):
        from .data.ytvis import encode_mask
        self.encode = encode_mask
        self.video = video
        self.categories = categories  # label index → category id
        self.min_frames = min_frames
        self.tracks = defaultdict(dict)  # track id → {frame: (rle, score, label, filled)}

    def add(self, frame, out):
        for k, tid in enumerate(out["track_ids"]):
            self.tracks[tid][frame] = (self.encode(out["masks"][k]), float(out["scores"][k]),
                                       int(out["labels"][k]), bool(out["filled"][k]))

    def results(self):
        """YouTube-VIS results, one per track of at least ``min_frames`` frames."""
        import numpy as np
        n = self.video["length"]
        out = []
        for tid in sorted(self.tracks):
            frames = self.tracks[tid]
            if len(frames) < self.min_frames:
                continue
            labels = [frames[f][2] for f in sorted(frames)]
            label = int(np.bincount(np.array(labels)).argmax())
            segs = [frames[f][0] if f in frames else None for f in range(n)]
            out.append(dict(video_id=self.video["id"],
                            category_id=self.categories[label],
                            score=float(np.mean([frames[f][1] for f in sorted(frames)])),
                            segmentations=segs,
                            filled=[bool(frames[f][3]) if f in frames else False
                                    for f in range(n)],
                            track_id=int(tid)))
        return out


def results_min_frames(model):
    """The config's ``test_results.min_frames`` (1: keep every track, as MaskTrack R-CNN)."""
    cfg = getattr(model, "cfg", None)
    return int(((cfg.get("test_results") if cfg is not None else None) or {})
               .get("min_frames", 1))


def frame_inputs(data):
    """(image tensor, img_metas dict) of one frame through a test pipeline (the
    MultiScaleFlipAug lists unwrapped, the metas' DataContainer opened)."""
    img = data["img"][0] if isinstance(data["img"], list) else data["img"]
    metas = data["img_metas"][0] if isinstance(data["img_metas"], list) else data["img_metas"]
    return img, (metas.data if hasattr(metas, "data") else metas)


def run_inference(model, dataset, hook_factory=None, progress=True, on_frame=None,
                  video_ids=None):
    """Run ``model`` online over ``dataset``; returns the YouTube-VIS results list.

    ``hook_factory(dataset, video_index, frame_index)`` may return a frame hook (oracle
    study, tests). ``on_frame(video_index, frame_index, out)`` sees every frame's output
    (figures). ``video_ids`` restricts the run to those videos.
    """
    import torch
    from tqdm import tqdm
    cat_ids = [c["id"] for c in dataset.categories] if hasattr(dataset, "categories") else \
        list(range(1, len(dataset.CLASSES) + 1))
    device = next(model.parameters()).device
    keep = None if video_ids is None else set(video_ids)
    indices = [i for i, (vi, _) in enumerate(dataset.frame_index)
               if keep is None or dataset.vid_infos[vi]["id"] in keep]
    results, acc = [], None
    min_frames = results_min_frames(model)
    bar = tqdm(total=len({dataset.frame_index[i][0] for i in indices}), unit="video",
               desc="inference", disable=not progress)
    with torch.no_grad():
        for idx in indices:
            vi, fi = dataset.frame_index[idx]
            img, metas = frame_inputs(dataset[idx])
            if acc is None or acc.video is not dataset.vid_infos[vi]:
                if acc is not None:
                    results.extend(acc.results())
                    bar.update(1)
                acc = TrackAccumulator(dataset.vid_infos[vi], cat_ids, min_frames)
            hook = hook_factory(dataset, vi, fi) if hook_factory else None
            out = model.simple_test(img[None].to(device), [metas], frame_hook=hook)[0]
            acc.add(fi, out)
            if on_frame is not None:
                on_frame(vi, fi, out)
    if acc is not None:
        results.extend(acc.results())
        bar.update(1)
    bar.close()
    return results


def add_test_arguments(p):
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", help="data folder in the official layout (default: config's)")
    p.add_argument("--split", default="valid")
    p.add_argument("--out", required=True,
                   help="results to write: X.json, or X.zip for the evaluation server "
                        "(results.json inside; the filled marks in X.filled.json)")
    p.add_argument("--show", help="folder for overlay frames")
    p.add_argument("--no-fill", action="store_true",
                   help="ObjProp: switch empty-instance filling off (max_fill=0)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, default={},
                   metavar="KEY=VALUE",
                   help="override config keys for this test run (mmcv's DictAction syntax), "
                        "e.g. model.test_cfg.rcnn.score_thr=0.3")


def run_from_args(args):
    from .config import check_option_keys, load_config
    from .io import write_json_atomic
    from .registries import check_config_types
    if not args.out.endswith((".json", ".zip")):
        raise ObjPropError("--out must end in .json (results) or .zip (a server "
                           "submission)", path=args.out)
    if args.cfg_options:
        check_option_keys(load_config(args.config), args.cfg_options, args.config)
    cfg = load_config(args.config, data_root=args.data, test_split=args.split,
                      cfg_options=args.cfg_options or None)
    check_config_types(cfg, args.config)
    model = build_model(cfg, args.checkpoint, device=args.device)
    if args.no_fill:
        set_max_fill(model, 0)
    dataset = build_test_dataset(cfg)
    on_frame = None
    if args.show:
        from .vis import save_overlay_frame
        def on_frame(vi, fi, out):  # noqa: E306
            save_overlay_frame(dataset, vi, fi, out, args.show)
    results = run_inference(model, dataset, on_frame=on_frame)
    if args.out.endswith(".zip"):
        from .data.ytvis import load_ytvis, write_submission
        write_submission(results, load_ytvis(cfg.data.test.ann_file), args.out)
    else:
        write_json_atomic(results, args.out)
    n_filled = sum(sum(r["filled"]) for r in results)
    print(f"wrote {len(results)} tracks over {len(dataset.vid_infos)} videos to {args.out} "
          f"({n_filled} frames filled by propagation)")
