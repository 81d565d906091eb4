"""Online tracking for MaskTrack R-CNN and ObjProp: instance memory and detection matching.

At frame t every detection i is scored against every track j in memory (Yang et al. 2019):

    s_ij = log_softmax(match logits over [new, tracks])_j + w_score·log(det score_i)
           + w_iou·IoU(box_i, last box_j) + w_label·[label_i == label_j]

and the "new" column scores log_softmax(...)_0 alone. Detections are assigned greedily in
descending detection score: each takes the best still-free track whose ``s_ij`` beats its
own "new" score, otherwise it starts a new track. The memory keeps, per track, the latest
embedding, box, label, the scores seen so far, the frame it was last seen, and (for ObjProp)
its box in every frame of the feature history.
"""
from collections import deque
from dataclasses import dataclass, field

import torch
from mmdet.core import bbox_overlaps

from .track_head import TrackHead


@dataclass
class Track:
    track_id: int
    embedding: torch.Tensor
    box: torch.Tensor            # last box, original image coordinates
    label: int
    scores: list
    last_seen: int               # frame index of the last detection or fill
    last_detected: int           # frame index of the last real detection
    filled_run: int = 0          # consecutive frames filled by propagation
    boxes: dict = field(default_factory=dict)  # frame index → box in padded-image coords

    @property
    def mean_score(self):
        return sum(self.scores) / len(self.scores)


class OnlineTracker:
    """Memory of one video's instances; :meth:`assign` gives each detection a track id."""

    def __init__(self, w_score=1.0, w_iou=2.0, w_label=10.0, history=24, max_age=None):
        self.w_score, self.w_iou, self.w_label = w_score, w_iou, w_label
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
        logp = match_logits.log_softmax(dim=1)
        if not tracks:
            return logp
        t_boxes = torch.stack([t.box for t in tracks]).to(boxes)
        t_labels = boxes.new_tensor([t.label for t in tracks])
        ious = bbox_overlaps(boxes, t_boxes)
        same = (labels[:, None].to(t_labels) == t_labels[None]).to(boxes)
        extra = (self.w_score * scores.clamp(min=1e-6).log()[:, None]
                 + self.w_iou * ious + self.w_label * same)
        out = logp.clone()
        out[:, 1:] = logp[:, 1:] + extra
        return out

    def assign(self, frame, embeddings, boxes, scores, labels, forced_ids=None):
        """Assign track ids to this frame's detections and update the memory.

        Args:
            frame: frame index. embeddings (N, D); boxes (N, 4) original coords;
            scores (N,); labels (N,).
            forced_ids: optional list of N ids (the track oracle) that bypass matching.
        Returns:
            list of N track ids.
        """
        n = len(boxes)
        tracks = self.active_tracks(frame)
        ids = [None] * n
        if forced_ids is not None:
            ids = [int(i) for i in forced_ids]
            self.next_id = max([self.next_id] + [i + 1 for i in ids])
        elif n:
            ref = (torch.stack([t.embedding for t in tracks]) if tracks
                   else embeddings.new_zeros(0, embeddings.shape[1]))
            logits = TrackHead.match_scores(embeddings, ref)  # the training-time logits
            comb = self.match_matrix(logits, boxes, scores, labels, tracks)
            taken = set()
            for i in scores.argsort(descending=True).tolist():
                best, best_j = comb[i, 0], None
                for j in range(len(tracks)):
                    if j not in taken and comb[i, j + 1] > best:
                        best, best_j = comb[i, j + 1], j
                if best_j is None:
                    ids[i] = self.next_id
                    self.next_id += 1
                else:
                    taken.add(best_j)
                    ids[i] = tracks[best_j].track_id
        for i, tid in enumerate(ids):
            self.update(tid, frame, embeddings[i], boxes[i], int(labels[i]), float(scores[i]))
        return ids

    def update(self, tid, frame, embedding, box, label, score, filled=False, pad_box=None):
        t = self.tracks.get(tid)
        if t is None:
            t = self.tracks[tid] = Track(tid, embedding.detach(), box.detach(), label, [score],
                                         frame, frame)
        else:
            if embedding is not None:
                t.embedding = embedding.detach()
            t.box, t.label = box.detach(), label
            t.scores.append(score)
            t.last_seen = frame
        if filled:
            t.filled_run += 1
        else:
            t.last_detected, t.filled_run = frame, 0
        if pad_box is not None:
            t.boxes[frame] = pad_box.detach()
        # keep only boxes of frames still in the feature history
        kept = {f for f, _ in self.frames} | {frame}
        t.boxes = {f: b for f, b in t.boxes.items() if f in kept}
        return t
