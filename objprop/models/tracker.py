"""Online tracking for MaskTrack R-CNN and ObjProp: instance memory and detection matching.

Trackers are registered parts built from ``test_cfg.track`` (``dict(type=...)``, the way
mmtracking builds its trackers; :data:`objprop.models.builder.TRACKERS`): the memory is
:class:`OnlineTracker`'s, each rule a subclass with its own combined score and assignment.

The default, :class:`MaskTrackTracker`, is MaskTrack R-CNN's own test-time matching, transcribed
from youtubevos/MaskTrackRCNN at 10e5d7d: ``mmdet/models/detectors/two_stage.py``
``simple_test_bboxes`` (lines 174–263) and ``mmdet/models/track_heads/track_head.py``
``compute_comp_scores`` (lines 56–73), with ``match_coeff=[1.0, 2.0, 10]`` and
``bbox_dummy_iou=0`` from ``configs/masktrack_rcnn_r50_fpn_1x_youtubevos.py``. Every
detection i of frame t is scored against column 0 ("a new object") and every instance j in
memory:

    s_ij = log_softmax(match logits)_j + c0·log(score_i) + c1·IoU_ij + c2·[label_i == label_j]

where column 0 gets the same score term, IoU = ``bbox_dummy_iou`` and label term 1
(track_head.py 59–65), so a new object competes on equal terms with a same-class track.
Then (two_stage.py 236–260), in input order:

* each detection takes its best column (``argmax``);
* column 0: a new instance is added to the memory (its id = the memory's size);
* column j: the detection gets instance j only if its combined score beats the best score
  that instance has received in this frame so far (which starts at -100, line 242); it then
  replaces the instance's embedding and box in memory. A detection that loses keeps id -1
  and is dropped from the frame's output (``bbox2result_with_id`` keeps ``obj_id >= 0``,
  ``mmdet/core/bbox/transforms.py`` 177–179); one that was beaten later by a better one is
  overwritten in the per-frame dict keyed by id (same lines). Here both are ``None``.
* the memory's *label* of an instance is the one it was created with: ``prev_det_labels``
  is never updated on a match (lines 258–260 update features and box only).

Departure: box IoU is mmdet 2.x's ``bbox_overlaps`` (``x2 - x1``); MaskTrack R-CNN's mmdet
1.x adds one pixel (``x2 - x1 + 1``, ``mmdet/core/bbox/geometry.py``). Nothing else differs.

:class:`GreedyTracker` is this book's former rule, kept as an option to measure: the new column
scores the match log-probability alone, detections are assigned in descending score order,
each taking the best still-free track that beats its own new-object score (a loser takes
its next-best track or starts one; nothing is dropped), and the label in memory follows the
latest match.

The memory keeps, per track, the latest embedding and box, the label it was created with
(matching) and its latest label (ObjProp's fills), the scores seen so far, the frame it was
last seen, and (ObjProp) its box in every frame of the feature history.
"""
from collections import deque
from dataclasses import dataclass, field

import torch
from mmdet.core import bbox_overlaps

from .builder import TRACKERS
from .track_head import TrackHead


@dataclass
class Track:
    track_id: int
    embedding: torch.Tensor
    box: torch.Tensor            # last box, original image coordinates
    label: int                   # latest label (detection or fill)
    scores: list
    last_seen: int               # frame index of the last detection or fill
    first_label: int = None      # the label it was created with (MaskTrack's matching)
    filled_run: int = 0          # consecutive frames filled by propagation
    boxes: dict = field(default_factory=dict)  # frame index → box in padded-image coords

    def __post_init__(self):
        if self.first_label is None:
            self.first_label = self.label

    @property
    def mean_score(self):
        return sum(self.scores) / len(self.scores)


class OnlineTracker:
    """Memory of one video's instances; :meth:`assign` gives each detection a track id.

    The rule (the combined score :meth:`match_matrix` and the assignment :meth:`pick`) is a
    subclass's: :class:`MaskTrackTracker` or :class:`GreedyTracker`.

    Args:
        match_coeff: weights of log(score), box IoU and same-label (MaskTrack's
            ``match_coeff``).
        bbox_dummy_iou: the IoU term of the "new object" column. :class:`MaskTrackTracker`
            uses it; :class:`GreedyTracker` scores that column by the match log-probability
            alone and takes it only so that one ``track`` dict switches rule by ``type``.
        history: frames of propagation features kept (ObjProp).
        max_age: forget tracks unseen for more than this many frames (None: never, as
            MaskTrack R-CNN).
    """

    def __init__(self, match_coeff=(1.0, 2.0, 10.0), bbox_dummy_iou=0.0, history=24,
                 max_age=None):
        if len(match_coeff) != 3:
            raise ValueError("match_coeff needs three weights: score, IoU, label")
        self.match_coeff = tuple(float(c) for c in match_coeff)
        self.bbox_dummy_iou = float(bbox_dummy_iou)
        self.history = history
        self.max_age = max_age
        self.reset()

    def reset(self, video_id=None):
        self.video_id = video_id
        self.tracks = {}
        self.next_id = 0
        self.frames = deque(maxlen=self.history)  # (frame index, propagation features)

    def active_tracks(self, frame):
        return [t for t in self.tracks.values()
                if self.max_age is None or frame - t.last_seen <= self.max_age]

    def match_matrix(self, match_logits, boxes, scores, labels, tracks):
        """Combined scores (N, 1+M) of N detections against M tracks (column 0 = new)."""
        raise NotImplementedError

    def pick(self, comb, scores, tracks):
        """Track ids (None: dropped) of the detections, from their combined scores."""
        raise NotImplementedError

    def box_ious(self, boxes, tracks):
        """IoU (N, M) of this frame's boxes with the tracks' last boxes."""
        if not tracks:
            return boxes.new_zeros(len(boxes), 0)
        return bbox_overlaps(boxes, torch.stack([t.box for t in tracks]).to(boxes))

    def assign(self, frame, embeddings, boxes, scores, labels, forced_ids=None):
        """Assign track ids to this frame's detections and update the memory.

        Args:
            frame: frame index. embeddings (N, D); boxes (N, 4) original coords;
            scores (N,); labels (N,), in the detector's output order.
            forced_ids: optional list of N ids (the track oracle) that bypass matching.
        Returns:
            list of N track ids; ``None`` for a detection the rule drops from the frame.
        """
        n = len(boxes)
        tracks = self.active_tracks(frame)
        if forced_ids is not None:
            ids = [int(i) for i in forced_ids]
            self.next_id = max([self.next_id] + [i + 1 for i in ids])
        elif not n:
            ids = []
        else:
            ref = (torch.stack([t.embedding for t in tracks]) if tracks
                   else embeddings.new_zeros(0, embeddings.shape[1]))
            logits = TrackHead.match_scores(embeddings, ref)  # the training-time logits
            comb = self.match_matrix(logits, boxes, scores, labels, tracks)
            ids = self.pick(comb, scores, tracks)
        for i, tid in enumerate(ids):
            if tid is not None:
                self.update(tid, frame, embeddings[i], boxes[i], int(labels[i]),
                            float(scores[i]))
        return ids

    def _new_id(self):
        self.next_id += 1
        return self.next_id - 1

    def update(self, tid, frame, embedding, box, label, score, filled=False, pad_box=None):
        t = self.tracks.get(tid)
        if t is None:
            t = self.tracks[tid] = Track(tid, embedding.detach(), box.detach(), label, [score],
                                         frame)
        else:
            if embedding is not None:
                t.embedding = embedding.detach()
            t.box, t.label = box.detach(), label
            t.scores.append(score)
            t.last_seen = frame
        t.filled_run = t.filled_run + 1 if filled else 0
        if pad_box is not None:
            t.boxes[frame] = pad_box.detach()
        # keep only boxes of frames still in the feature history
        kept = {f for f, _ in self.frames} | {frame}
        t.boxes = {f: b for f, b in t.boxes.items() if f in kept}
        return t


@TRACKERS.register_module()
class MaskTrackTracker(OnlineTracker):
    """MaskTrack R-CNN's matching (module docstring), the default."""

    def match_matrix(self, match_logits, boxes, scores, labels, tracks):
        """The same terms summed in the same order as ``compute_comp_scores``
        (track_head.py 71–73), so float32 rounding, and with it every argmax, is the
        original's."""
        c_score, c_iou, c_label = self.match_coeff
        logp = match_logits.log_softmax(dim=1)
        n = len(boxes)
        t_labels = boxes.new_tensor([t.first_label for t in tracks])
        same = (t_labels[None] == labels.view(-1, 1).to(boxes)).to(boxes)
        ious = torch.cat([boxes.new_full((n, 1), self.bbox_dummy_iou),
                          self.box_ious(boxes, tracks)], dim=1)
        same = torch.cat([boxes.new_ones(n, 1), same], dim=1)
        return (logp + c_score * torch.log(scores.view(-1, 1).to(boxes))
                + c_iou * ious + c_label * same)

    def pick(self, comb, scores, tracks):
        """two_stage.py 236–260: argmax per detection, in input order; a track goes to the
        detection with the highest combined score (ties: the first), the others drop."""
        best_col = comb.argmax(dim=1).tolist()
        ids = [None] * len(best_col)
        best_score = [-100.0] * len(tracks)   # line 242
        owner = [None] * len(tracks)          # detection currently holding track j
        for i, col in enumerate(best_col):
            if col == 0:
                ids[i] = self._new_id()
                continue
            j = col - 1
            s = float(comb[i, col])
            if s > best_score[j]:
                if owner[j] is not None:
                    ids[owner[j]] = None      # overwritten in bbox2result_with_id's dict
                owner[j], best_score[j] = i, s
                ids[i] = tracks[j].track_id
        return ids


@TRACKERS.register_module()
class GreedyTracker(OnlineTracker):
    """This book's former rule (module docstring): kept as a variant to measure."""

    def match_matrix(self, match_logits, boxes, scores, labels, tracks):
        """Column 0 is the match log-probability alone; a track's column adds the score,
        IoU and latest-label terms."""
        c_score, c_iou, c_label = self.match_coeff
        logp = match_logits.log_softmax(dim=1)
        t_labels = boxes.new_tensor([t.label for t in tracks])
        same = (labels[:, None].to(boxes) == t_labels[None]).to(boxes)
        extra = (c_score * scores.clamp(min=1e-6).log()[:, None]
                 + c_iou * self.box_ious(boxes, tracks) + c_label * same)
        out = logp.clone()
        out[:, 1:] = logp[:, 1:] + extra
        return out

    def pick(self, comb, scores, tracks):
        """Descending score, each detection takes the best free track."""
        ids = [None] * len(scores)
        taken = set()
        for i in scores.argsort(descending=True).tolist():
            best, best_j = comb[i, 0], None
            for j in range(len(tracks)):
                if j not in taken and comb[i, j + 1] > best:
                    best, best_j = comb[i, j + 1], j
            if best_j is None:
                ids[i] = self._new_id()
            else:
                taken.add(best_j)
                ids[i] = tracks[best_j].track_id
        return ids
