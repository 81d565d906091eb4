"""The default tracker is MaskTrack R-CNN's: checked against a transcription of the original.

``original_simple_test_bboxes`` below transcribes, line for line, the matching part of
youtubevos/MaskTrackRCNN at 10e5d7d, ``mmdet/models/detectors/two_stage.py`` lines 196–263
(``simple_test_bboxes`` after ``get_det_bboxes``), with ``TrackHead.compute_comp_scores``
(``mmdet/models/track_heads/track_head.py`` lines 56–73) and ``bbox2result_with_id``
(``mmdet/core/bbox/transforms.py`` lines 160–180). Two mechanical changes: the RoI features
are replaced by the embeddings the track head makes of them (the head is deterministic at
test time, so the logits are the same), and ``bbox_overlaps`` is mmdet 2.x's (the one
departure, documented in ``objprop/models/tracker.py``).
"""
import numpy as np
import pytest
import torch
from mmdet.core import bbox_overlaps

from objprop.models import build_tracker
from objprop.models.tracker import GreedyTracker, MaskTrackTracker

MATCH_COEFF = [1.0, 2.0, 10]   # configs/masktrack_rcnn_r50_fpn_1x_youtubevos.py line 48
BBOX_DUMMY_IOU = 0             # TrackHead default (track_head.py line 26)


class OriginalMaskTrack:
    """State and matching of MaskTrack R-CNN's two-stage detector at test time."""

    def __init__(self):
        self.prev_bboxes = None
        self.prev_roi_feats = None
        self.prev_det_labels = None

    @staticmethod
    def track_head(x, ref_x):  # track_head.py 97–108, dynamic=True, one image
        prod = torch.mm(x, torch.transpose(ref_x, 0, 1))
        dummy = torch.zeros(prod.size(0), 1)
        return torch.cat([dummy, prod], dim=1)

    @staticmethod
    def compute_comp_scores(match_ll, bbox_scores, bbox_ious, label_delta,
                            add_bbox_dummy=False):  # track_head.py 56–73
        if add_bbox_dummy:
            bbox_iou_dummy = torch.ones(bbox_ious.size(0), 1) * BBOX_DUMMY_IOU
            bbox_ious = torch.cat((bbox_iou_dummy, bbox_ious), dim=1)
            label_dummy = torch.ones(bbox_ious.size(0), 1)
            label_delta = torch.cat((label_dummy, label_delta), dim=1)
        return (match_ll + MATCH_COEFF[0] * torch.log(bbox_scores)
                + MATCH_COEFF[1] * bbox_ious + MATCH_COEFF[2] * label_delta)

    def simple_test_bboxes(self, det_bboxes, det_labels, det_roi_feats, is_first):
        if det_bboxes.nelement() == 0:                                   # 196
            det_obj_ids = np.array([], dtype=np.int64)
            if is_first:
                self.prev_bboxes = None
                self.prev_roi_feats = None
                self.prev_det_labels = None
            return det_bboxes, det_labels, det_obj_ids
        if is_first or (not is_first and self.prev_bboxes is None):      # 213
            det_obj_ids = np.arange(det_bboxes.size(0))
            self.prev_bboxes = det_bboxes
            self.prev_roi_feats = det_roi_feats
            self.prev_det_labels = det_labels
        else:
            assert self.prev_roi_feats is not None
            match_score = self.track_head(det_roi_feats, self.prev_roi_feats)
            match_logprob = torch.nn.functional.log_softmax(match_score, dim=1)
            label_delta = (self.prev_det_labels == det_labels.view(-1, 1)).float()
            bbox_ious = bbox_overlaps(det_bboxes[:, :4], self.prev_bboxes[:, :4])
            comp_scores = self.compute_comp_scores(match_logprob,
                                                   det_bboxes[:, 4].view(-1, 1),
                                                   bbox_ious, label_delta,
                                                   add_bbox_dummy=True)
            match_likelihood, match_ids = torch.max(comp_scores, dim=1)  # 236
            match_ids = match_ids.cpu().numpy().astype(np.int32)
            det_obj_ids = np.ones((match_ids.shape[0]), dtype=np.int32) * (-1)
            best_match_scores = np.ones((self.prev_bboxes.size(0))) * (-100)
            for idx, match_id in enumerate(match_ids):
                if match_id == 0:
                    det_obj_ids[idx] = self.prev_roi_feats.size(0)
                    self.prev_roi_feats = torch.cat(
                        (self.prev_roi_feats, det_roi_feats[idx][None]), dim=0)
                    self.prev_bboxes = torch.cat(
                        (self.prev_bboxes, det_bboxes[idx][None]), dim=0)
                    self.prev_det_labels = torch.cat(
                        (self.prev_det_labels, det_labels[idx][None]), dim=0)
                else:
                    obj_id = match_id - 1
                    match_score = comp_scores[idx, match_id]
                    if match_score > best_match_scores[obj_id]:
                        det_obj_ids[idx] = obj_id
                        best_match_scores[obj_id] = match_score
                        self.prev_roi_feats[obj_id] = det_roi_feats[idx]
                        self.prev_bboxes[obj_id] = det_bboxes[idx]
        return det_bboxes, det_labels, det_obj_ids

    def frame_output(self, det_bboxes, det_labels, det_obj_ids):
        """bbox2result_with_id (transforms.py 171–180): {obj_id: detection index}; a later
        detection with the same id overwrites the earlier one."""
        results = {}
        for idx, obj_id in enumerate(det_obj_ids):
            if obj_id >= 0:
                results[int(obj_id)] = idx
        return results


def random_sequence(rng, n_frames=6, n_objects=4, n_classes=2, dim=8):
    """Detections of a few moving objects plus clutter: boxes jitter, labels flip now and
    then, embeddings are the object's own plus noise, scores are uniform."""
    centres = rng.uniform(20, 80, size=(n_objects, 2))
    sizes = rng.uniform(10, 30, size=(n_objects, 2))
    labels = rng.integers(0, n_classes, size=n_objects)
    embs = rng.normal(0, 1.5, size=(n_objects, dim))
    frames = []
    for f in range(n_frames):
        present = [k for k in range(n_objects) if rng.random() < 0.8]
        present += list(rng.integers(0, n_objects, size=rng.integers(0, 3)))  # duplicates
        rng.shuffle(present)
        if rng.random() < 0.1:
            present = []
        boxes, scores, labs, es = [], [], [], []
        for k in present:
            c = centres[k] + f * 2 + rng.normal(0, 4, 2)
            s = sizes[k] * rng.uniform(0.8, 1.2, 2)
            boxes.append([c[0] - s[0], c[1] - s[1], c[0] + s[0], c[1] + s[1]])
            scores.append(rng.uniform(0.01, 1.0))
            labs.append(labels[k] if rng.random() < 0.85 else rng.integers(0, n_classes))
            es.append(embs[k] + rng.normal(0, 0.8, dim))
        frames.append((torch.tensor(np.array(boxes).reshape(-1, 4), dtype=torch.float32),
                       torch.tensor(scores, dtype=torch.float32),
                       torch.tensor(np.array(labs, dtype=np.int64)),
                       torch.tensor(np.array(es).reshape(-1, dim), dtype=torch.float32)))
    return frames


def run_original(frames):
    orig, outs = OriginalMaskTrack(), []
    for f, (boxes, scores, labels, embs) in enumerate(frames):
        det_bboxes = torch.cat([boxes, scores[:, None]], dim=1)
        _, _, obj_ids = orig.simple_test_bboxes(det_bboxes.clone(), labels.clone(),
                                                embs.clone(), is_first=f == 0)
        kept = orig.frame_output(det_bboxes, labels, obj_ids)
        ids = [None] * len(boxes)
        for obj_id, idx in kept.items():
            ids[idx] = obj_id
        outs.append(ids)
    return outs


def run_ours(frames, **kwargs):
    tracker, outs = build_tracker(kwargs), []
    tracker.reset(0)
    for f, (boxes, scores, labels, embs) in enumerate(frames):
        outs.append(tracker.assign(f, embs, boxes, scores, labels))
    return outs


def test_default_tracker_equals_masktrack_rcnn_on_random_sequences():
    rng = np.random.default_rng(0)
    n_dropped = n_same = 0
    for _ in range(300):
        frames = random_sequence(rng)
        want = run_original(frames)
        got = run_ours(frames)
        assert got == want
        n_same += 1
        n_dropped += sum(i is None for ids in want for i in ids)
    # the sequences exercise the conflict rule, not only easy matches
    assert n_same == 300 and n_dropped > 50


def test_greedy_variant_differs_from_masktrack_rcnn():
    rng = np.random.default_rng(1)
    differ = sum(run_ours(fr, type="GreedyTracker") != run_original(fr)
                 for fr in (random_sequence(rng) for _ in range(50)))
    assert differ > 25


def frame(boxes, scores, labels, embs):
    return (torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores),
            torch.tensor(labels), torch.tensor(embs, dtype=torch.float32))


def test_a_new_instance_of_a_known_class_is_not_merged_into_a_track():
    # frame 0: one cat; frame 1: that cat and a second cat far away with another look
    f0 = frame([[0, 0, 10, 10]], [0.9], [0], [[3.0, 0.0]])
    f1 = frame([[1, 0, 11, 10], [50, 50, 60, 60]], [0.9, 0.8], [0, 0],
               [[3.0, 0.0], [0.0, 3.0]])
    assert run_ours([f0, f1]) == [[0], [0, 1]]
    # alone in frame 1, the second cat still starts its own track: the new column gets the
    # same label bonus as a same-class track; the greedy rule gives it none and merges them
    f1_alone = frame([[50, 50, 60, 60]], [0.8], [0], [[-1.0, 3.0]])
    assert run_ours([f0, f1_alone]) == [[0], [1]] == run_original([f0, f1_alone])
    assert run_ours([f0, f1_alone], type="GreedyTracker") == [[0], [0]]


def test_two_detections_of_one_track_keep_only_the_better_one():
    f0 = frame([[0, 0, 10, 10]], [0.9], [0], [[3.0, 0.0]])
    # the first detection (input order) matches worse than the second: it is dropped
    f1 = frame([[5, 5, 15, 15], [0, 0, 10, 10]], [0.5, 0.9], [0, 0],
               [[3.0, 0.0], [3.0, 0.0]])
    assert run_ours([f0, f1]) == [[0], [None, 0]]
    assert run_ours([f0, f1], type="GreedyTracker")[1][1] == 0


def test_matching_uses_the_label_a_track_was_created_with():
    f0 = frame([[0, 0, 10, 10]], [0.9], [0], [[3.0, 0.0]])
    f1 = frame([[0, 0, 10, 10]], [0.9], [1], [[3.0, 0.0]])   # relabelled: still matched?
    f2 = frame([[0, 0, 10, 10]], [0.9], [1], [[3.0, 0.0]])
    tracker = MaskTrackTracker()
    tracker.reset(0)
    ids = [tracker.assign(f, e, b, s, lab) for f, (b, s, lab, e) in enumerate([f0, f1, f2])]
    assert ids == run_original([f0, f1, f2])
    assert ids == [[0], [0], [0]]
    assert tracker.tracks[0].first_label == 0
    assert tracker.tracks[0].label == 1   # the latest label: ObjProp's fills use it


def test_trackers_are_registered_parts_built_by_type():
    assert isinstance(build_tracker(None), MaskTrackTracker)   # the default: MaskTrack's
    assert isinstance(build_tracker(dict(type="GreedyTracker", history=5)), GreedyTracker)
    with pytest.raises(KeyError, match="Hungarian"):
        build_tracker(dict(type="HungarianTracker"))


# ------------------------------------------------------------------ the results file

def original_results2json_videoseg(frames_out, video_len, drop_one_frame=False):
    """youtubevos/MaskTrackRCNN ``mmdet/core/evaluation/coco_utils.py`` lines 178–204 for
    one video (``drop_one_frame``: the ObjProp authors' lines 231–232): ``frames_out`` is
    a list of {obj_id: (label, score)} per frame."""
    vid_objs = {}
    for frame_id, det in enumerate(frames_out):
        for obj_id in det:
            label, score = det[obj_id]
            if obj_id not in vid_objs:
                vid_objs[obj_id] = {'scores': [], 'cats': [], 'segms': {}}
            vid_objs[obj_id]['scores'].append(score)
            vid_objs[obj_id]['cats'].append(label)
            vid_objs[obj_id]['segms'][frame_id] = frame_id
    out = {}
    for obj_id, obj in vid_objs.items():
        if drop_one_frame and len(obj['cats']) == 1:
            continue
        out[obj_id] = dict(
            score=np.array(obj['scores']).mean().item(),
            category_id=np.bincount(np.array(obj['cats'])).argmax().item() + 1,
            frames=[fid in obj['segms'] for fid in range(video_len)])
    return out


@pytest.mark.parametrize("min_frames", [1, 2])
def test_results_file_is_written_as_masktrack_rcnn_writes_it(min_frames):
    from objprop.inference import TrackAccumulator
    rng = np.random.default_rng(min_frames)
    n_frames, h, w = 8, 6, 5
    for _ in range(20):
        frames_out = []
        acc = TrackAccumulator(dict(id=3, length=n_frames), [1, 2, 3, 4], min_frames)
        for f in range(n_frames):
            ids = sorted(set(rng.integers(0, 5, size=rng.integers(0, 4)).tolist()))
            labels = rng.integers(0, 4, size=len(ids))
            scores = rng.uniform(0, 1, size=len(ids)).astype(np.float32)
            frames_out.append({i: (int(lab), float(s))
                               for i, lab, s in zip(ids, labels, scores)})
            acc.add(f, dict(track_ids=ids, labels=labels, scores=scores,
                            masks=np.ones((len(ids), h, w), bool),
                            filled=np.zeros(len(ids), bool)))
        want = original_results2json_videoseg(frames_out, n_frames, min_frames == 2)
        got = {r["track_id"]: r for r in acc.results()}
        assert sorted(got) == sorted(want)
        for tid, r in got.items():
            assert r["category_id"] == want[tid]["category_id"]
            assert r["score"] == pytest.approx(want[tid]["score"], rel=1e-6)
            assert [s is not None for s in r["segmentations"]] == want[tid]["frames"]
