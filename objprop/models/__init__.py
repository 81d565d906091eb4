"""Model parts, registered in mmdet 2.x's registries on import."""
from .detectors import FrameHook, MaskTrackRCNN, MaskTrackRoIHead, ObjProp, ToyMaskRCNN  # noqa: F401
from .prop_head import PropagationHead, propagate_attention  # noqa: F401
from .track_head import TrackHead  # noqa: F401
from .builder import FILLERS, TRACKERS, build_filler, build_tracker  # noqa: F401
from .fillers import AuthorsFiller, OnlineFiller  # noqa: F401
from .roi_align import MatmulGradRoIAlign, RoILayerExtractor  # noqa: F401
from .losses import AttentionBCELoss, LogitsBCELoss  # noqa: F401
from .tracker import GreedyTracker, MaskTrackTracker, OnlineTracker  # noqa: F401
