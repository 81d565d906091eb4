"""ObjProp reproducibility library."""
import logging
import warnings

# Known, harmless start-up noise of the pinned stack, silenced so that a command's stderr
# holds only what concerns the user: mmcv 1.7's notice about mmcv 2.0, and torch's note that
# a CPU machine has no CUDA runtime (printed when mmcv imports torch.utils.cpp_extension).
warnings.filterwarnings("ignore", message="On January 1, 2023, MMCV will release v2.0.0")
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
