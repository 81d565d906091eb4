"""Small helpers the model tests share: a toy config and a synthetic frame pair."""
import numpy as np
import torch
from mmdet.core import BitmapMasks

from objprop.config import load_config
from objprop.inference import build_model

CONFIGS = {"objprop": "configs/objprop_r18_fpn_toy.py",
           "masktrack": "configs/masktrack_rcnn_r18_fpn_toy.py"}


def toy_model(kind="objprop", seed=0, **cfg_options):
    torch.manual_seed(seed)
    cfg = load_config(CONFIGS[kind], cfg_options=cfg_options or None)
    return build_model(cfg).train(), cfg


def square_masks(boxes, h, w):
    m = np.zeros((len(boxes), h, w), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        m[i, y1:y2, x1:x2] = 1
    return BitmapMasks(m, h, w)


def pair_batch(n_imgs=2, h=96, w=128, shift=8.0, seed=0):
    """A batch of (t, t-δ) pairs: two boxes per frame, the second frame shifted by ``shift``.

    Frame t has instances with ids (1, 2); the reference frame has (2, 1, 3) so the track
    targets are not the identity.
    """
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(n_imgs, 3, h, w, generator=g)
    ref_img = torch.randn(n_imgs, 3, h, w, generator=g)
    meta = dict(img_shape=(h, w, 3), ori_shape=(h, w, 3), pad_shape=(h, w, 3),
                scale_factor=np.ones(4, dtype=np.float32), flip=False, flip_direction=None,
                batch_input_shape=(h, w))
    boxes_t = torch.tensor([[10., 12., 50., 60.], [60., 20., 110., 80.]])
    boxes_ref = torch.stack([boxes_t[1] - shift, boxes_t[0] - shift,
                             torch.tensor([5., 5., 30., 30.])])
    return dict(
        img=img, img_metas=[dict(meta) for _ in range(n_imgs)],
        gt_bboxes=[boxes_t.clone() for _ in range(n_imgs)],
        gt_labels=[torch.tensor([0, 1]) for _ in range(n_imgs)],
        gt_masks=[square_masks(boxes_t.numpy(), h, w) for _ in range(n_imgs)],
        gt_ids=[torch.tensor([1, 2]) for _ in range(n_imgs)],
        ref_img=ref_img, ref_img_metas=[dict(meta) for _ in range(n_imgs)],
        ref_gt_bboxes=[boxes_ref.clone() for _ in range(n_imgs)],
        ref_gt_labels=[torch.tensor([1, 0, 2]) for _ in range(n_imgs)],
        ref_gt_masks=[square_masks(boxes_ref.numpy(), h, w) for _ in range(n_imgs)],
        ref_gt_ids=[torch.tensor([2, 1, 3]) for _ in range(n_imgs)])


class SyntheticVideo:
    """One synthetic video as a test dataset (``frame_index``, ``vid_infos``, items with
    ``img`` and ``img_metas``): a random image rolled one pixel per frame."""

    def __init__(self, n_frames=4, seed=0, h=96, w=128):
        g = torch.Generator().manual_seed(seed)
        self.base = torch.randn(1, 3, h, w, generator=g)
        self.h, self.w, self.n = h, w, n_frames
        self.frame_index = [(0, f) for f in range(n_frames)]
        self.vid_infos = [dict(id=7)]

    def meta(self, f):
        h, w = self.h, self.w
        return dict(img_shape=(h, w, 3), ori_shape=(h, w, 3), pad_shape=(h, w, 3),
                    scale_factor=np.ones(4, dtype=np.float32), flip=False,
                    batch_input_shape=(h, w), video_id=7, frame_id=f, is_first=f == 0,
                    vid_len=self.n)

    def __getitem__(self, i):
        f = self.frame_index[i][1]
        return dict(img=torch.roll(self.base, shifts=f, dims=-1)[0], img_metas=self.meta(f))


def run_video(model, hook, n_frames=4, seed=0, h=96, w=128):
    """Online test over the ``n_frames`` frames of :class:`SyntheticVideo`, the detections
    scripted by the frame ``hook``; returns each frame's output."""
    video = SyntheticVideo(n_frames, seed, h, w)
    outs = []
    for f in range(n_frames):
        item = video[f]
        with torch.no_grad():
            outs.append(model.simple_test(item["img"][None], [item["img_metas"]],
                                          frame_hook=hook)[0])
    return outs
