"""The qualitative chapter's choice of video."""
from ..errors import ObjPropError


def pick_showcase_video(gt, results, video_ids=None):
    """The video where propagation filled the most instance-frames (ties: the most hard
    frames): where the qualitative figure can show what the method changes."""
    filled = {}
    for r in results:
        filled[r["video_id"]] = filled.get(r["video_id"], 0) + sum(r.get("filled", []))
    videos = [v for v in gt["videos"] if video_ids is None or v["id"] in video_ids]
    if not videos:
        raise ObjPropError("no video to show")
    return max(videos, key=lambda v: (filled.get(v["id"], 0), len(v.get("hard_frames", {})),
                                      -v["id"]))
