"""The autocast precisions a config may name for a model part (``train_feat_dtype``,
``test_feat_dtype`` of the detector; ``train_conv_dtype``, ``test_conv_dtype`` of the
propagation head): one table and one check for all of them."""
import torch

AUTOCAST_DTYPES = {None: None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def autocast_dtype(name, value):
    """The torch dtype a config's ``name=value`` asks for (None: float32, no autocast); a
    name that is not one of :data:`AUTOCAST_DTYPES` is a ValueError naming the argument."""
    if value not in AUTOCAST_DTYPES:
        raise ValueError(f"{name} must be one of "
                         f"{', '.join(k for k in AUTOCAST_DTYPES if k)} or None, not {value!r}")
    return AUTOCAST_DTYPES[value]
