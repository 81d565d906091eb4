"""Shared fixtures: one small ToyVIS per test session, reused by every test file."""
import pytest

SMALL = dict(seed=0, train_videos=4, valid_videos=2, tune_videos=2, frames=6, height=64,
             width=96)


@pytest.fixture(scope="session")
def toyvis_small(tmp_path_factory):
    """A small ToyVIS (4 train / 2 valid / 2 tune videos of 6 frames at 64x96) in the official
    layout; returns its root folder (``annotations/``, ``train/``, ``valid/``).
    Treat it as read-only: copy it before changing anything."""
    from objprop.data.toyvis import make_toyvis
    root = tmp_path_factory.mktemp("toyvis_small")
    make_toyvis(root, progress=False, **SMALL)
    return root


# the session's pretraining (objprop.pretrain.pretrain's arguments): a chapter given the same
# (the training chapter's pretrain_iters, toycoco_train_images, toycoco_valid_images and
# toycoco_root = the record's "data") reuses it
PRETRAIN_SMOKE = dict(max_iters=2, train_images=8, valid_images=3)


@pytest.fixture(scope="session", autouse=True)
def toy_pretrained_start(tmp_path_factory):
    """The toy configs' start (``load_from = 'pretrained://mask_rcnn_r18_fpn_toycoco'``) for
    the whole session: a smoke pretraining (2 iterations on 8 ToyCOCO images) in a cache of
    the session's own, named by ``OBJPROP_PRETRAINED_CACHE`` so that every process the tests
    start (CLI, torchrun workers, notebook kernels) resolves to it, and the user's cache is
    never read or re-pointed. Returns its record."""
    import os
    from objprop.book import repo_root
    from objprop.pretrain import DEFAULT_CONFIG, pretrain
    root = tmp_path_factory.mktemp("pretrained_start")
    before = os.environ.get("OBJPROP_PRETRAINED_CACHE")
    os.environ["OBJPROP_PRETRAINED_CACHE"] = str(root / "cache")
    record = pretrain(config=str(repo_root() / DEFAULT_CONFIG), data=root / "toycoco",
                      out=None, threads=1, progress=False, log=lambda _: None, **PRETRAIN_SMOKE)
    yield record
    if before is None:
        os.environ.pop("OBJPROP_PRETRAINED_CACHE", None)
    else:
        os.environ["OBJPROP_PRETRAINED_CACHE"] = before
