"""The frame-hook protocol of online inference (no torch needed to import it).

At test time each frame goes through detections → masks → track ids; a hook may override any
step (the oracle study, or a test that hides a detection). It lives apart from the detectors
so that the command line can import the oracle utilities without loading torch and mmdet.
"""


class FrameHook:
    """Pass-through hook; subclasses override a step of the per-frame test pipeline."""

    def detections(self, meta, bboxes, scores, labels):
        return bboxes, scores, labels

    def masks(self, meta, bboxes, labels, masks):
        return masks

    def track_ids(self, meta, bboxes, labels, masks):
        """Return a list of ids to force, or None to let the tracker decide."""
        return None
