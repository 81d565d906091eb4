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
