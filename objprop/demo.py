"""``objprop demo``: a trained model on your own video.

The input is a video file (mp4 and whatever FFmpeg reads: decoded with PyAV, whose wheel
ships FFmpeg) or a folder of frames (sorted by name). The model runs online, one frame at a
time and never a future frame, on each frame resized and normalised as the config's test
pipeline does (its first step, ``LoadImageFromFile``, becomes mmdet's
``LoadImageFromWebcam``, which takes the decoded array, as mmdet's ``inference_detector``
does). The output is:

* ``OUT.mp4`` (H.264) with exactly one overlay frame per input frame, at ``--fps`` (default:
  the input's; 10 for a folder of frames), or, when ``OUT`` has no ``.mp4`` suffix, a folder
  of overlay frames ``OUT/<frame:05d>.png``;
* always a per-frame JSON of the tracks (``OUT.json`` beside the video, ``OUT/tracks.json``
  in the folder): per frame, each instance's track id, class, score, RLE mask and whether
  propagation filled it.

Instances scoring below ``--score-thr`` are neither drawn nor listed. Everything is written
under temporary names and renamed at the end: a bad input or an interrupted run leaves no
output.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .config import unit_interval
from .errors import ObjPropError

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FOLDER_FPS = 10.0


# --------------------------------------------------------------------------- reading

class VideoInput:
    """Frames of a video file or a folder of frames as RGB uint8 arrays, with the frame rate
    (None for a folder) and the frame count when known (None: the container does not say)."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir()
                                if p.suffix.lower() in FRAME_SUFFIXES)
            if not self.files:
                raise ObjPropError(f"no frames ({', '.join(FRAME_SUFFIXES)}) in the folder",
                                   path=path)
            self.fps, self.length = None, len(self.files)
        elif self.path.is_file():
            self.files = None
            container = self._open()
            stream = container.streams.video[0]
            self.fps = float(stream.average_rate) if stream.average_rate else None
            self.length = int(stream.frames) or None
            container.close()
        else:
            raise ObjPropError("input not found (a video file or a folder of frames)",
                               path=path)

    def _open(self):
        import av
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise ObjPropError(f"not a video FFmpeg can read ({exc})", path=self.path)
        if not container.streams.video:
            container.close()
            raise ObjPropError("has no video stream", path=self.path)
        return container

    def __iter__(self):
        from PIL import Image
        if self.files is not None:
            for f in self.files:
                try:
                    with Image.open(f) as im:
                        yield np.asarray(im.convert("RGB"))
                except OSError as exc:
                    raise ObjPropError(f"cannot read the frame ({exc})", path=f)
            return
        import av
        container = self._open()
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise ObjPropError(f"the video stops decoding ({exc})", path=self.path)
        finally:
            container.close()


# --------------------------------------------------------------------------- writing

class VideoOutput:
    """An H.264 mp4 written frame by frame under a temporary name, renamed by ``close``.
    Odd frame sizes are padded by one pixel (yuv420p needs even ones)."""

    def __init__(self, path, fps):
        import av
        from fractions import Fraction
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".mp4",
                                   dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.container = av.open(str(self.tmp), "w")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.stream, self.frames = None, 0

    def write(self, rgb):
        import av
        h, w = rgb.shape[:2]
        if self.stream is None:
            self.stream = self.container.add_stream("h264", rate=self.rate)
            self.stream.width, self.stream.height = w + w % 2, h + h % 2
            self.stream.pix_fmt = "yuv420p"
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            self.container.mux(packet)
        self.frames += 1

    def close(self):
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self):
        try:
            self.container.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class FolderOutput:
    """``<folder>/<frame:05d>.png`` written into a hidden sibling folder, moved into place
    by ``close``."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.frames = 0

    def write(self, rgb):
        from PIL import Image
        Image.fromarray(rgb).save(self.tmp / f"{self.frames:05d}.png")
        self.frames += 1

    def close(self):
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)

    def abort(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def encode_frames(files, path, fps):
    """Encode image files as an mp4 (the book's clip for the demo); returns the path."""
    from PIL import Image
    sink = VideoOutput(path, fps)
    try:
        for f in files:
            with Image.open(f) as im:
                sink.write(np.asarray(im.convert("RGB")))
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return Path(path)


# --------------------------------------------------------------------------- the model

def frame_pipeline(cfg):
    """The config's test pipeline taking a decoded (BGR) array instead of a file name."""
    import copy

    from mmdet.datasets.pipelines import Compose
    steps = copy.deepcopy(cfg.data.test.pipeline)
    steps[0] = dict(type="LoadImageFromWebcam")
    return Compose(steps)


def run_demo(input_path, config, checkpoint, out, score_thr=0.3, fps=None, device="cpu",
             progress=True):
    """Run the model over the input and write the overlay video (or frames) and the
    per-frame JSON; returns a summary dict (frames, fps, tracks, filled, outputs)."""
    import torch
    from tqdm import tqdm

    from .config import load_config
    from .data.ytvis import encode_mask
    from .inference import build_model, frame_inputs
    from .io import write_json_atomic
    from .registries import check_config_types
    from .vis import draw_instances
    if fps is not None and not fps > 0:
        raise ObjPropError(f"--fps must be positive, got {fps}")
    source = VideoInput(input_path)
    out = Path(out)
    to_video = out.suffix.lower() == ".mp4"
    json_path = out.with_suffix(".json") if to_video else out / "tracks.json"
    rate = fps or source.fps or FOLDER_FPS
    cfg = load_config(config)
    check_config_types(cfg, config)
    model = build_model(cfg, checkpoint, device=device)
    names = list(getattr(model, "CLASSES", None) or [])
    model_device = next(model.parameters()).device
    pipeline = frame_pipeline(cfg)
    sink = VideoOutput(out, rate) if to_video else FolderOutput(out)
    per_frame, tracks, filled = [], set(), 0
    try:
        with torch.no_grad():
            for t, rgb in enumerate(tqdm(source, total=source.length, unit="frame",
                                         desc="demo", disable=not progress)):
                img, metas = frame_inputs(pipeline(dict(
                    img=np.ascontiguousarray(rgb[..., ::-1]), video_id=1, frame_id=t,
                    is_first=t == 0, vid_len=source.length or -1)))
                res = model.simple_test(img[None].to(model_device), [metas])[0]
                keep = [k for k, s in enumerate(res["scores"]) if float(s) >= score_thr]
                masks = [np.asarray(res["masks"][k], bool) for k in keep]
                entry = []
                for k, m in zip(keep, masks):
                    label = int(res["labels"][k])
                    entry.append(dict(track_id=int(res["track_ids"][k]),
                                      label=label,
                                      category=names[label] if label < len(names) else None,
                                      score=round(float(res["scores"][k]), 4),
                                      filled=bool(res["filled"][k]),
                                      segmentation=encode_mask(m)))
                    tracks.add(int(res["track_ids"][k]))
                    filled += bool(res["filled"][k])
                per_frame.append(dict(frame=t, instances=entry))
                sink.write(draw_instances(
                    rgb, masks, labels=[int(res["labels"][k]) for k in keep],
                    class_names=names or None,
                    track_ids=[int(res["track_ids"][k]) for k in keep],
                    scores=[float(res["scores"][k]) for k in keep],
                    filled=[bool(res["filled"][k]) for k in keep]))
        if not per_frame:
            raise ObjPropError("no frame could be read", path=input_path)
        summary = dict(input=str(input_path), frames=len(per_frame), fps=float(rate),
                       score_thr=score_thr, classes=names, tracks=len(tracks),
                       filled_instances=filled, output=str(out), json=str(json_path))
        if to_video:
            sink.close()
            write_json_atomic(dict(summary, per_frame=per_frame), json_path)
        else:  # the JSON goes inside the folder, which appears whole
            with open(sink.tmp / "tracks.json", "w") as f:
                json.dump(dict(summary, per_frame=per_frame), f)
            sink.close()
    except BaseException:
        sink.abort()
        raise
    return summary


def add_demo_arguments(p):
    p.add_argument("--input", required=True, help="a video file (mp4, ...) or a folder of frames")
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True,
                   help="OUT.mp4 (overlay video + OUT.json), or a folder (overlay frames + "
                        "tracks.json)")
    p.add_argument("--score-thr", type=unit_interval, default=0.3,
                   help="instances below this score are neither drawn nor listed")
    p.add_argument("--fps", type=float, help="output frame rate (default: the input's)")
    p.add_argument("--device", default="cpu")
    return p


def run_from_args(args):
    s = run_demo(args.input, args.config, args.checkpoint, args.out, args.score_thr,
                 args.fps, args.device)
    print(f"demo: {s['frames']} frames at {s['fps']:g} fps, {s['tracks']} tracks "
          f"({s['filled_instances']} instance-frames filled by propagation) → {s['output']}, "
          f"{s['json']}")
    return s
