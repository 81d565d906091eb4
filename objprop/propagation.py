"""ObjProp's propagation branch taken apart, and measured on its own.

The propagation chapter (``book/propagation.md``) shows one frame pair step by step and then
measures how good the propagated masks are, independent of the tracker and of filling. Every
step here calls the model's own parts (``extract_feat``, ``PropagationHead.prop_features``,
``.affinity``, ``.forward``, :func:`objprop.models.prop_head.masks_to_image`): nothing is
re-implemented, so what the chapter shows is what inference runs.

The measurement (:func:`propagation_ious`) propagates every ground-truth instance of a split
from frame t-δ to frame t for δ = 1…8, starting either from its **ground-truth box** at t-δ
(the branch's own quality) or from the **detector's box** there (the detection of this model
that overlaps the ground-truth box most, box IoU ≥ 0.5; none: the instance-frame is counted
as a miss with IoU 0), and scores the propagated mask (thresholded at the config's
``prop.mask_thr``) against the ground-truth mask at t, split by ToyVIS's easy and hard
target frames. The detector's own best mask on the same instance-frame is recorded beside it:
propagation can only help where it beats that.
"""
from pathlib import Path

import numpy as np
import torch

from .data.ytvis import annotations_by_video, decode_segmentation, mask_to_bbox, xywh_to_xyxy
from .errors import ObjPropError

BOX_SOURCES = ("gt", "detector")


class FrameCache:
    """One video's frames through the config's test pipeline, with their FPN and
    propagation features and detections computed once (δ = 1…8 reuse every frame)."""

    def __init__(self, model, dataset, video_index):
        self.model, self.dataset, self.vi = model, dataset, video_index
        self.index = {fi: i for i, (vi, fi) in enumerate(dataset.frame_index)
                      if vi == video_index}
        self._frames, self._dets = {}, {}
        self.device = next(model.parameters()).device

    def frame(self, fi):
        """dict(img, meta, x (FPN levels), feat (the propagation head's ``F``))."""
        if fi not in self._frames:
            if fi not in self.index:
                raise ObjPropError(f"frame {fi} is not in video index {self.vi}")
            data = self.dataset[self.index[fi]]
            img = data["img"][0] if isinstance(data["img"], list) else data["img"]
            meta = data["img_metas"][0] if isinstance(data["img_metas"], list) else \
                data["img_metas"]
            meta = meta.data if hasattr(meta, "data") else meta
            img = img[None].to(self.device)
            with torch.no_grad():
                x = self.model.extract_feat(img)
                feat = self.model.prop_head.prop_features(x)
            self._frames[fi] = dict(img=img, meta=meta, x=x, feat=feat)
        return self._frames[fi]

    def detections(self, fi):
        """This model's detections in frame ``fi``: boxes (original pixels), labels,
        binary masks at the original size."""
        if fi not in self._dets:
            f = self.frame(fi)
            roi = self.model.roi_head
            with torch.no_grad():
                proposals = self.model.rpn_head.simple_test_rpn(f["x"], [f["meta"]])
                boxes, _, labels = roi.detect(f["x"], [f["meta"]], proposals)
                masks = roi.predict_masks(f["x"], boxes, labels, f["meta"])
            scale = boxes.new_tensor(f["meta"]["scale_factor"])
            self._dets[fi] = dict(boxes=(boxes / scale).cpu().numpy(),
                                  labels=labels.cpu().numpy(), masks=masks)
        return self._dets[fi]


def propagate(model, cache, t, ref, ref_boxes, labels=None):
    """Propagate instances given by their boxes at frame ``ref`` (original pixels, (N, 4)
    x1 y1 x2 y2) to frame ``t``; every intermediate of the branch, for one frame pair:

    ``feat_t``, ``feat_ref`` (1, C, h, w): ``F`` of each frame; ``affinity`` (hw, hw): row i
    is how position i of frame t draws on each position of the reference frame;
    ``box_maps`` (N, h, w): the boxes at t-δ at feature resolution; ``propagated`` (N, h, w):
    ``W b``; ``attention`` (N, h, w); ``mask_prob`` (N, H, W): the head's mask at the
    original frame size.
    """
    from .models.prop_head import box_maps, masks_to_image
    head = model.prop_head
    ft, fr = cache.frame(t), cache.frame(ref)
    boxes = torch.as_tensor(np.asarray(ref_boxes, dtype=np.float32).reshape(-1, 4),
                            device=cache.device)
    pad_boxes = boxes * boxes.new_tensor(fr["meta"]["scale_factor"])
    h, w = ft["feat"].shape[-2:]
    with torch.no_grad():
        affinity = head.affinity(ft["feat"], fr["feat"])
        out = head(ft["feat"], fr["feat"], pad_boxes, affinity, labels=labels)
        prob = masks_to_image(out["mask_prob"], ft["meta"], head.feat_stride / 2)
    return dict(feat_t=ft["feat"], feat_ref=fr["feat"], affinity=affinity[0],
                box_maps=box_maps(pad_boxes, (h, w), head.feat_stride).view(-1, h, w),
                propagated=out["propagated"], attention=out["attention"],
                mask_prob=prob.cpu().numpy(), feature_size=(h, w), meta_t=ft["meta"])


def gt_instances(anns, frame, h, w):
    """The ground-truth instances present in ``frame``: ``{annotation id: (category id,
    mask (h, w) bool, box x1 y1 x2 y2)}``."""
    out = {}
    for a in anns:
        segm = a["segmentations"][frame]
        mask = decode_segmentation(segm, h, w) if segm is not None else None
        if mask is None or not mask.any():
            continue
        out[a["id"]] = (a["category_id"], mask, np.asarray(xywh_to_xyxy(mask_to_bbox(mask)),
                                                            dtype=np.float32))
    return out


def mask_iou(a, b):
    """IoU of two boolean masks of one size (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _box_iou(box, boxes):
    """IoU of one box with each of ``boxes`` (x1 y1 x2 y2): mmdet's ``bbox_overlaps``, as
    the oracle study uses."""
    from mmdet.core import bbox_overlaps
    if not len(boxes):
        return np.zeros(0)
    return bbox_overlaps(torch.as_tensor(np.asarray(box, np.float32)[None]),
                         torch.as_tensor(np.asarray(boxes, np.float32)))[0].numpy()


def propagation_ious(model, dataset, gt, deltas=range(1, 9), box_sources=BOX_SOURCES,
                     max_videos=None, progress=True):
    """One record per (ground-truth instance-frame t, δ, box source) of the split:
    ``video_id, frame, delta, instance, hard (bool), source, iou`` (the propagated mask's
    IoU with the ground truth at t) and ``detector_iou`` (the best IoU of any of the
    detector's masks at t with it)."""
    from tqdm import tqdm
    if not hasattr(model, "prop_head"):
        raise ObjPropError("this model has no propagation head (an ObjProp config is needed)")
    thr = model.filler.mask_thr
    anns = annotations_by_video(gt)
    videos = {v["id"]: v for v in gt["videos"]}
    order = [(vi, info["id"]) for vi, info in enumerate(dataset.vid_infos)
             if info["id"] in videos][:max_videos]
    records = []
    for vi, vid in tqdm(order, desc="propagation", unit="video", disable=not progress):
        video, cache = videos[vid], FrameCache(model, dataset, vi)
        h, w = video["height"], video["width"]
        hard = video.get("hard_frames") or {}
        inst = {f: gt_instances(anns[vid], f, h, w) for f in range(video["length"])}
        for t in range(video["length"]):
            if not inst[t]:
                continue
            det_t = cache.detections(t)
            for delta in deltas:
                ref = t - delta
                if ref < 0:
                    continue
                shared = [k for k in inst[t] if k in inst[ref]]
                for source in box_sources:
                    boxes, keep = _source_boxes(cache, inst[ref], shared, source, ref)
                    labels = [dataset.cat2label[inst[ref][k][0]] for k in keep]
                    probs = (propagate(model, cache, t, ref, boxes, labels)["mask_prob"]
                             if keep else [])
                    got = dict(zip(keep, probs))
                    for k in shared:
                        mask_t = inst[t][k][1]
                        iou = mask_iou(got[k] > thr, mask_t) if k in got else 0.0
                        det = max((mask_iou(m, mask_t) for m in det_t["masks"]), default=0.0)
                        records.append(dict(video_id=vid, frame=t, delta=delta, instance=k,
                                            hard=str(t) in hard, source=source, iou=iou,
                                            detector_iou=det))
    return records


def _source_boxes(cache, inst_ref, keys, source, ref):
    """The boxes at the reference frame to propagate from, and the instances they belong to."""
    if source == "gt":
        return [inst_ref[k][2] for k in keys], list(keys)
    if source != "detector":
        raise ObjPropError(f"unknown box source {source!r}; choose one of {BOX_SOURCES}")
    det = cache.detections(ref)
    boxes, keep = [], []
    for k in keys:
        ious = _box_iou(inst_ref[k][2], det["boxes"])
        if len(ious) and ious.max() >= 0.5:
            boxes.append(det["boxes"][int(ious.argmax())])
            keep.append(k)
    return boxes, keep


def summarize_ious(records, hit=0.5):
    """Rows per (source, frame kind, δ): mean propagated IoU, share ≥ ``hit``, the
    detector's mean best IoU on the same instance-frames, the share where propagation beats
    the detector, and the count."""
    groups = {}
    for r in records:
        kind = "hard" if r["hard"] else "easy"
        groups.setdefault((r["source"], kind, r["delta"]), []).append(r)
    rows = []
    for (source, kind, delta), rs in sorted(groups.items()):
        iou = np.array([r["iou"] for r in rs])
        det = np.array([r["detector_iou"] for r in rs])
        rows.append(dict(source=source, frames=kind, delta=delta, n=len(rs),
                         iou=float(iou.mean()), hit=float((iou >= hit).mean()),
                         detector_iou=float(det.mean()), beats_detector=float((iou > det).mean())))
    return rows


def plot_ious_by_delta(rows):
    """Mean propagated IoU against δ: one panel per frame kind, a line per box source, the
    detector's own mean best IoU dashed."""
    import matplotlib.pyplot as plt
    kinds = [k for k in ("easy", "hard") if any(r["frames"] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.2), squeeze=False,
                             sharey=True)
    for ax, kind in zip(axes[0], kinds):
        for i, source in enumerate(dict.fromkeys(r["source"] for r in rows)):
            rs = [r for r in rows if r["frames"] == kind and r["source"] == source]
            ax.plot([r["delta"] for r in rs], [r["iou"] for r in rs], marker="o", color=f"C{i}",
                    label=f"propagated from the {'ground-truth' if source == 'gt' else 'detected'} box")
        rs = [r for r in rows if r["frames"] == kind and r["source"] == rows[0]["source"]]
        ax.plot([r["delta"] for r in rs], [r["detector_iou"] for r in rs], ls="--",
                color="gray", label="detector's best mask at t")
        ax.set_title(f"{kind} target frames", fontsize=9)
        ax.set_xlabel("δ (frames between reference and target)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean mask IoU with the ground truth")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_steps(steps, img_t, img_ref, gt_mask, position, title=""):
    """The branch for one instance, left to right: the reference frame with the box, the
    affinity row of ``position`` (a cell of frame t) over the reference frame, the
    propagated object map ``W b`` and background map ``1 - W b``, the attention, the
    predicted mask, the ground truth at t."""
    import matplotlib.pyplot as plt
    h, w = steps["feature_size"]
    row = steps["affinity"][position[0] * w + position[1]].view(h, w).cpu().numpy()
    fg = steps["propagated"][0].cpu().numpy()
    panels = [(img_ref, "frame t-δ"), (steps["box_maps"][0].cpu().numpy(), "box map b at t-δ"),
              (row, f"affinity row of cell {position} of t"), (fg, "object map W b"),
              (1 - fg, "background map W (1-b)"),
              (steps["attention"][0].cpu().numpy(), "attention"),
              (steps["mask_prob"][0], "predicted mask at t"), (gt_mask, "ground truth at t"),
              (img_t, "frame t")]
    cols = (len(panels) + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(2.6 * cols, 4.4))
    axes = axes.ravel()
    for ax, (im, name) in zip(axes, panels):
        ax.imshow(im, cmap=None if im.ndim == 3 else "viridis")
        ax.set_title(name, fontsize=8)
    for ax in axes:
        ax.axis("off")
    axes[2].plot(position[1], position[0], "r+", ms=10)  # the query cell, in t's grid
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def pick_pair(gt, delta=1, video_id=None):
    """(video id, t, annotation id) of the pair the chapter shows: the first hard frame t
    (ToyVIS marks them) whose instance is also in frame t-δ, else the first such frame."""
    anns = annotations_by_video(gt)
    videos = [v for v in gt["videos"] if video_id is None or v["id"] == video_id]
    for want_hard in (True, False):
        for v in videos:
            hard = v.get("hard_frames") or {}
            for t in range(delta, v["length"]):
                if want_hard and str(t) not in hard:
                    continue
                for a in anns[v["id"]]:
                    if a["segmentations"][t] is not None and \
                            a["segmentations"][t - delta] is not None:
                        return v["id"], t, a["id"]
    raise ObjPropError(f"no instance is present in two frames {delta} apart")


IOU_COLUMNS = [("δ", "delta"), ("instance-frames", "n"), ("mean IoU", "iou"),
               ("IoU ≥ 0.5", "hit"), ("detector's best IoU", "detector_iou"),
               ("propagated beats detector", "beats_detector")]


def ious_table(rows, deltas=None):
    """:func:`summarize_ious` rows (those of ``deltas``) as a markdown table."""
    from .tables import markdown_table
    shown = [dict(r, box=f"{'ground truth' if r['source'] == 'gt' else 'detector'}, "
                         f"{r['frames']} frames", n=str(r["n"]), delta=str(r["delta"]))
             for r in rows if deltas is None or r["delta"] in deltas]
    return markdown_table(shown, IOU_COLUMNS, first=("box at t-δ, target frames", "box"),
                          extra=(), digits=2)


def oracle_fill(model, dataset, gt, results, iou_thr=0.5, max_videos=None, progress=True):
    """The propagation oracle: the ceiling of what filling can add to ``results``.

    Frame by frame, every ground-truth instance-frame that no result finds (mask IoU ≥
    ``iou_thr``) while a result covered the instance in the frame before gets that result's
    mask in frame t replaced by the branch's mask propagated from the instance's
    **ground-truth box** at t-1 (filling extends existing tracks only; it cannot start one).
    Fills are marked ``filled`` and chain: a track filled in t is filled again in t+1 if the
    instance is still missed, even when its fill in t was wrong.
    Returns (new results, number of oracle fills). Only the videos ``dataset`` holds change.
    """
    import copy

    from tqdm import tqdm

    from .data.ytvis import encode_mask
    thr = model.filler.mask_thr
    out = copy.deepcopy(results)
    anns = annotations_by_video(gt)
    videos = {v["id"]: v for v in gt["videos"]}
    order = [(vi, info["id"]) for vi, info in enumerate(dataset.vid_infos)
             if info["id"] in videos][:max_videos]
    n_fills = 0
    for vi, vid in tqdm(order, desc="propagation oracle", unit="video", disable=not progress):
        video, cache = videos[vid], FrameCache(model, dataset, vi)
        h, w = video["height"], video["width"]
        tracks = [r for r in out if r["video_id"] == vid]
        for r in tracks:
            r["filled"] = list(r.get("filled") or [False] * video["length"])
        masks = [[decode_segmentation(s, h, w) if s is not None else None
                  for s in r["segmentations"]] for r in tracks]
        before = gt_instances(anns[vid], 0, h, w)
        owner = {}  # instance → the result the oracle filled for it (it keeps following it)
        for t in range(1, video["length"]):
            now = gt_instances(anns[vid], t, h, w)
            for k, (cat, mask_t, _) in now.items():
                if k not in before or _covered(masks, t, mask_t, iou_thr) is not None:
                    continue
                i = _covered(masks, t - 1, before[k][1], iou_thr)
                if i is None and k in owner and masks[owner[k]][t - 1] is not None:
                    i = owner[k]  # its fill in t-1 was wrong, but it is still its track
                if i is None:
                    continue
                owner[k] = i
                prob = propagate(model, cache, t, t - 1, [before[k][2]],
                                 labels=[dataset.cat2label[before[k][0]]])["mask_prob"][0]
                masks[i][t] = prob > thr
                tracks[i]["segmentations"][t] = encode_mask(masks[i][t])
                tracks[i]["filled"][t] = True
                n_fills += 1
            before = now
    return out, n_fills


def _covered(masks, t, mask, iou_thr):
    """The index of the result whose mask in frame ``t`` overlaps ``mask`` most, if its
    IoU reaches ``iou_thr``; else None."""
    best, best_iou = None, iou_thr
    for i, track in enumerate(masks):
        if track[t] is not None:
            iou = mask_iou(track[t], mask)
            if iou >= best_iou:
                best, best_iou = i, iou
    return best


FILLING_VARIANTS = [  # (name, what it is)
    ("ObjProp (no filling)", "the trained ObjProp, filling off"),
    ("ObjProp", "the same weights, the paper's filling"),
    ("ObjProp + propagation oracle", "filling off, then every missed instance-frame whose "
                                     "track was there in the frame before filled from its "
                                     "ground-truth box there"),
]


def tune_fill_rule(config, results_dir, data_root, grid, split="tune", max_videos=None,
                   seed=None):
    """Choose the fill rule on the tuning split: every combination of ``grid`` (prop
    option → values) is run with the first trained seed's ObjProp (``seed``: another) on
    ``split`` and scored; the highest mAP wins (ties: the earlier combination, so list the
    paper's values first). Returns ``dict(rows, chosen)``: one row per combination (its
    options, mAP, hard-frame recall, missed frames, filled frames, seconds) and the chosen
    options as ``--cfg-options`` keys."""
    import itertools

    from .report import find_checkpoint, score_method, trained_seeds
    seed = trained_seeds(config, results_dir)[0] if seed is None else seed
    checkpoint = find_checkpoint(config, results_dir, seed=seed)
    keys = list(grid)
    rows = []
    for values in itertools.product(*(grid[k] for k in keys)):
        options = {f"model.test_cfg.prop.{k}": v for k, v in zip(keys, values)}
        name = "tune " + " ".join(f"{k}={v}" for k, v in zip(keys, values))
        m = score_method(name, config, checkpoint, data_root, split,
                         str(Path(results_dir) / "tune"), max_videos=max_videos,
                         progress=False, cfg_options=options, seed=seed)
        rows.append(dict(dict(zip(keys, values)), options=options, AP=100 * m["stats"]["AP"],
                         recall_hard_frames=m["stability"].get("recall_hard_frames"),
                         missed_frames=m["stability"].get("missed_frames"),
                         filled=m["filled_frames"], seconds=m["inference_seconds"]))
    best = max(range(len(rows)), key=lambda i: (rows[i]["AP"], -i))
    return dict(split=split, seed=seed, rows=rows, chosen=rows[best]["options"])


def _scored(gt, results):
    """The 12 stats and the stability metrics of a results list made here (one set of
    per-frame intersections for both)."""
    from .evaluation import stability_metrics, ytvis_evaluate
    from .evaluation.tracks import VideoPairs
    pairs = VideoPairs(gt, results)
    return dict(stats=ytvis_evaluate(gt, results, per_category=False, pairs=pairs),
                stability=stability_metrics(gt, results, pairs=pairs))


def filling_study(config, results_dir, data_root, split="valid", max_videos=None,
                  tuned_options=None):
    """The filling funnel of MaskTrack R-CNN, and of ObjProp with and without filling and
    with the propagation oracle, per training seed, from the evaluation chapter's results files; returns
    ``dict(runs=[...])``, one scored run per (variant, seed) in the form
    :mod:`objprop.report` aggregates (``method``, ``seed``, ``stats``, ``stability``) plus
    its ``funnel``. ``tuned_options`` (the fill rule chosen on the tuning split) adds the
    variant *ObjProp (tuned fill rule)*: the same weights with those options, scored here
    (or, when they are the config's own values, the *ObjProp* run under that name)."""
    from .config import load_config
    from .evaluation.funnel import filling_funnel
    from .inference import build_model, build_test_dataset
    from .data.ytvis import load_results
    from .report import by_method, find_checkpoint, load_measured, score_method, subset_gt
    measured = by_method(load_measured(results_dir)["methods"])
    runs = []
    for base in measured.get("MaskTrack R-CNN", []):  # the baseline's funnel: no filling
        gt = subset_gt(base["ann_file"], base["video_ids"])
        runs.append(dict({k: base[k] for k in ("stats", "stability", "inference_seconds",
                                               "frames") if k in base},
                         method=base["method"], seed=base["seed"],
                         funnel=filling_funnel(gt, load_results(base["results"], gt), 0)))
    for nofill, fill in zip(measured["ObjProp (no filling)"], measured["ObjProp"]):
        seed = fill["seed"]
        cfg = load_config(config, data_root=data_root, test_split=split)
        model = build_model(cfg, find_checkpoint(config, results_dir, seed=seed))
        dataset = build_test_dataset(cfg)
        gt = subset_gt(cfg.data.test.ann_file, fill["video_ids"])
        base = load_results(nofill["results"], gt)
        oracle, n = oracle_fill(model, dataset, gt, base, max_videos=max_videos,
                                progress=False)
        variants = zip(FILLING_VARIANTS, (base, load_results(fill["results"], gt), oracle),
                       (nofill, fill, None))
        for (name, _), res, scored in variants:
            keep = {k: scored[k] for k in ("stats", "stability", "stability_at_score",
                                           "inference_seconds", "frames") if k in scored} \
                if scored else _scored(gt, res)
            runs.append(dict(keep, method=name, seed=seed,
                             funnel=filling_funnel(gt, res, max_fill=None if name.endswith(
                                 "oracle") else model.filler.max_fill if name == "ObjProp"
                                 else 0)))
        runs[-1]["oracle_fills"] = n
        paper_rule = tuned_options is not None and all(
            getattr(model.filler, k.rsplit(".", 1)[-1], None) == v for k, v in tuned_options.items())
        if tuned_options and paper_rule:  # the paper's rule won: its runs, not a rerun
            runs.append(dict(runs[-2], method=TUNED))
        elif tuned_options:
            tuned = score_method(TUNED, config, find_checkpoint(config, results_dir, seed=seed),
                                 data_root, split, results_dir, max_videos=max_videos,
                                 progress=False, cfg_options=tuned_options, seed=seed)
            max_fill = tuned_options.get("model.test_cfg.prop.max_fill",
                                         model.filler.max_fill)
            runs.append(dict(tuned, funnel=filling_funnel(gt, load_results(tuned["results"], gt),
                                                          max_fill=max_fill)))
    return dict(runs=runs)


TUNED = "ObjProp (tuned fill rule)"


def funnel_table(runs, hard=False):
    """The funnel of each filling variant side by side: per stage, the mean count over
    seeds ± std and its share of the instance-frames (``hard``: ToyVIS's hard frames)."""
    from .evaluation.funnel import STAGES, funnel_rows
    from .report import by_method
    from .tables import markdown_table
    variants = by_method(runs)
    cols = {name: funnel_rows([r["funnel"] for r in rs], hard=hard)
            for name, rs in variants.items()}
    rows = []
    for i, (_, what) in enumerate(STAGES):
        row = dict(stage=what)
        for name, rs in cols.items():
            r = rs[i]
            sd = "" if r["count_std"] is None else f" ± {r['count_std']:.1f}"
            row[name] = f"{r['count']:.1f}{sd} ({r['share']:.0f} %)"
        rows.append(row)
    return markdown_table(rows, [(n, n) for n in cols], first=("instance-frames", "stage"),
                          extra=())


FILL_COLUMNS = [("mAP", "AP"), ("recall, hard frames", "recall_hard_frames"),
                ("missed frames", "missed_frames"), ("ms per frame", "ms"), ("fills", "fills"),
                ("correct fills", "correct"), ("counted fills", "counted"),
                ("fills on hard frames", "fills_hard"), ("median score of filled tracks",
                                                         "fill_score")]


def _fill_value(run, key):
    f = run["funnel"]["fills"]
    scores = run["funnel"]["fill_track_scores"]
    if key == "AP":
        return 100 * run["stats"]["AP"]
    if key in ("recall_hard_frames", "missed_frames"):
        v = run["stability"].get(key)
        return None if v is None else float(v)
    if key == "fill_score":
        return float(np.median(scores)) if scores else 0.0
    if key == "ms":  # inference time; the oracle is not an inference rule: None
        return (1000 * run["inference_seconds"] / max(run["frames"], 1)
                if run.get("inference_seconds") else None)
    return float(f["on_hard_frames" if key == "fills_hard" else
                   "total" if key == "fills" else key])


def fills_table(runs):
    """Per filling variant: mAP, hard-frame recall, missed frames, and its fills (how many,
    how many correct, how many on a track that matches the instance as a whole, on hard
    frames, the median score of the tracks that got them): mean ± std over seeds."""
    from .report import summary_rows
    from .tables import markdown_table
    rows = summary_rows(runs, [k for _, k in FILL_COLUMNS], _fill_value)
    return markdown_table(rows, FILL_COLUMNS, extra=(("seeds", "seeds"),), digits=2)


def filling_sentence(runs):
    """What filling adds and what the oracle says it could add, paired by seed."""
    from .report import format_difference, paired_difference
    base = "ObjProp (no filling)"
    parts = []
    for name, what in (("ObjProp", "The paper's filling adds"),
                       (TUNED, "The fill rule chosen on the tuning split adds"),
                       ("ObjProp + propagation oracle", "Filling every missed instance-frame "
                                                        "from its ground-truth box would add")):
        d = paired_difference(runs, name, base, key="AP", value=_fill_value)
        r = paired_difference(runs, name, base, key="recall_hard_frames", value=_fill_value)
        if d:
            parts.append(f"{what} {format_difference(d)}" + (
                "" if r is None else f" and {100 * r['mean']:+.1f} points of hard-frame recall"))
    parts = [parts[0]] + [p[0].lower() + p[1:] for p in parts[1:]] if parts else []
    return ("; ".join(parts) + " (against the same weights without filling).") if parts \
        else "No filling runs."


def tuning_table(tuning):
    """The tuning split's grid: each combination's options, mAP, hard-frame recall, missed
    frames, filled frames and seconds; the chosen one marked."""
    from .tables import markdown_table
    keys = [k for k in tuning["rows"][0] if k not in
            ("options", "AP", "recall_hard_frames", "missed_frames", "filled", "seconds")]
    rows = [dict(r, **{k: str(r[k]) for k in keys}, filled=str(r["filled"]),
                 chosen="**chosen**" if r["options"] == tuning["chosen"] else "")
            for r in tuning["rows"]]
    cols = [(k, k) for k in keys[1:]] + [("mAP", "AP"), ("recall, hard", "recall_hard_frames"),
                                         ("missed frames", "missed_frames"),
                                         ("filled frames", "filled"), ("s", "seconds")]
    return markdown_table(rows, cols, first=(keys[0], keys[0]), extra=(("", "chosen"),),
                          digits=2)


def feature_cell(box, meta, stride):
    """(row, column) of the feature-grid cell holding the centre of ``box`` (original
    pixels, x1 y1 x2 y2) in a frame with ``meta``."""
    scale = np.asarray(meta["scale_factor"], dtype=float)[:2]
    cx, cy = (np.asarray(box[:2], float) + np.asarray(box[2:4], float)) / 2 * scale / stride
    return int(cy), int(cx)


def funnel_sentence(runs, method="ObjProp", oracle="ObjProp + propagation oracle"):
    """Where the hard frames' instances are lost, in numbers: the largest missed stage of
    ``method`` on hard frames, and what the propagation oracle's fills were worth there."""
    from .evaluation.funnel import funnel_rows
    from .report import by_method
    variants = by_method(runs)
    if method not in variants:
        return "No filling run to follow."
    rows = funnel_rows([r["funnel"] for r in variants[method]], hard=True)
    total = sum(r["count"] for r in rows)
    missed = [r for r in rows if r["key"] not in ("detected", "filled")]
    worst = max(missed, key=lambda r: r["count"])
    found = sum(r["count"] for r in rows if r["key"] in ("detected", "filled"))
    text = (f"On hard frames {method} finds {found:.0f} of {total:.0f} instance-frames "
            f"(mean over seeds); the largest loss is *{worst['stage']}*: {worst['count']:.0f} "
            f"({worst['share']:.0f} %).")
    if oracle in variants:
        o = {r["key"]: r["count"] for r in funnel_rows([r["funnel"] for r in variants[oracle]],
                                                       hard=True)}
        tried = o["filled"] + o["wrong_fill"]
        text += (f" Filled from the ground-truth box by the same branch, {o['filled']:.0f} of "
                 f"{tried:.0f} of them would be right (IoU ≥ 0.5): the loss is the branch's "
                 f"own masks there, not the fill rule." if tried and o["filled"] < tried / 2
                 else f" Filled from the ground-truth box by the same branch, {o['filled']:.0f} "
                 f"of {tried:.0f} of them would be right (IoU ≥ 0.5).")
    return text


# -------------------------------------------------------------------- how the branch learns

# Ways of training the branch within the paper's or the authors' design, as training
# --cfg-options on the book's ObjProp config. The first is the book's own run (reused).
BRANCH_VARIANTS = {
    "as the book trains it": {},
    # its share of the gradient: the full-frame mask loss is mostly background pixels
    "mask loss weight 5": {"model.prop_head.loss_prop_mask.loss_weight": 5.0},
    # resolution: the paper's stride 16 leaves a ToyVIS object 2-4 feature cells across; the
    # book's toy ObjProp trains at 8 since this study chose it (configs/_base_/toy.py)
    "features at the paper's stride 16": {"model.prop_head.feat_stride": 16},
}


def branch_variant_study(config, variants=None, seeds=(0, 1, 2), data_root=None,
                         split="tune", work_root="work_dirs", delta=1, max_iters=None,
                         log=print):
    """Train ObjProp once per (variant, seed) with the variant's options, and measure the
    branch's own quality on ``split`` (the tuning split by default: a variant is chosen there,
    never on valid): every ground-truth instance propagated from its ground-truth box at
    t-``delta``. A variant without options is the book's own run (``work_dirs/<config>/
    seed<k>``, reused when finished); the others train in ``<work_root>/variants/<name>/
    <config>/seed<k>``. Returns one row per (variant, seed, frame kind): ``variant``, ``seed``,
    ``frames`` (easy/hard), ``iou``, ``hit`` (share ≥ 0.5), ``n``, plus ``options`` and the
    run's ``s_per_iter``. ``max_iters`` compresses the schedule (smoke tests)."""
    from .config import load_config
    from .data.ytvis import load_ytvis
    from .inference import build_model, build_test_dataset
    from .io import safe_name
    from .training import TrainSettings, run_dir, train_subprocess
    variants = BRANCH_VARIANTS if variants is None else variants
    rows = []
    for name, options in variants.items():
        for seed in seeds:
            root = Path(work_root) / "variants" / safe_name(name) if options else Path(work_root)
            summary = train_subprocess(TrainSettings(
                config, data_root, work_dir=run_dir(root, config, seed), seed=seed,
                resume=True, max_iters=max_iters, cfg_options=options), log=log)
            cfg = load_config(config, data_root=data_root, test_split=split,
                              cfg_options=options or None)
            model = build_model(cfg, summary["checkpoint"])
            dataset = build_test_dataset(cfg)
            gt = load_ytvis(cfg.data.test.ann_file)
            records = propagation_ious(model, dataset, gt, deltas=[delta], box_sources=("gt",),
                                       progress=False)
            for r in summarize_ious(records):
                rows.append(dict(variant=name, seed=seed, frames=r["frames"], iou=r["iou"],
                                 hit=r["hit"], n=r["n"], options=options,
                                 s_per_iter=summary.get("s_per_iter")))
            log(f"[variants] {name}, seed {seed}: " + ", ".join(
                f"{r['frames']} IoU {r['iou']:.3f}" for r in rows if r["variant"] == name
                and r["seed"] == seed))
    return rows


def branch_variants_table(rows):
    """Mean ± std over seeds of the ground-truth-box IoU and hit rate, per variant and frame
    kind, with the seeds and each variant's training time per iteration."""
    from .report import mean_std
    from .tables import markdown_table
    out = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        for kind in ("easy", "hard"):
            rs = [r for r in rows if r["variant"] == name and r["frames"] == kind]
            if not rs:
                continue
            row = dict(variant=name, frames=kind, seeds=", ".join(str(r["seed"]) for r in rs))
            for key in ("iou", "hit"):
                row[key], row[f"{key}_std"] = mean_std([r[key] for r in rs])
            spi = [r["s_per_iter"] for r in rs if r.get("s_per_iter")]
            row["s_per_iter"] = f"{sum(spi) / len(spi):.2f}" if spi else "–"
            out.append(row)
    return markdown_table(out, [("mean IoU", "iou"), ("share ≥ 0.5", "hit")],
                          first=("variant", "variant"),
                          extra=(("target frames", "frames"), ("seeds", "seeds"),
                                 ("s/iteration", "s_per_iter")), digits=3)


def branch_variants_sentence(rows, reference=None, kind="easy"):
    """Which variant changes the ground-truth-box IoU on ``kind`` frames beyond the seeds'
    spread: the difference of means against the sum of the two sample stds (the rule the
    book's gain sentence uses). ``reference``: the variant compared against (the first)."""
    from .report import mean_std
    names = list(dict.fromkeys(r["variant"] for r in rows))
    reference = reference or names[0]

    def of(name):
        return mean_std([r["iou"] for r in rows if r["variant"] == name and r["frames"] == kind])

    ref_mean, ref_std = of(reference)
    parts = []
    for name in names:
        if name == reference:
            continue
        mean, std = of(name)
        diff = mean - ref_mean
        spread = (ref_std or 0.0) + (std or 0.0)
        verdict = ("beyond" if abs(diff) > spread and ref_std is not None and std is not None
                   else "within")
        parts.append(f"*{name}* {diff:+.3f} ({verdict} the seeds' spread, ± {spread:.3f})")
    return (f"Against *{reference}*, the mean IoU from the ground-truth box on {kind} frames "
            f"changes by: " + "; ".join(parts) + ".")
