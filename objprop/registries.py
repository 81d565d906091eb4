"""Every ``type`` a config names, looked up before anything is built: the registry each
config key draws from (by its key path), and the one check (:func:`check_config_types`).

mmcv builds a part only when a command reaches it, so a misspelt ``type`` (in a config
file or in ``--cfg-options``) used to end in mmcv's ``KeyError`` traceback, for
``objprop train`` inside the training subprocess. The commands call the check right after
loading their config: an unknown name is one line naming the key, the name and the
registered names closest to it. A key whose registry is not known here is skipped, never
reported: a false alarm would block a config that builds.
"""
import difflib

from .errors import ObjPropError

SUGGESTIONS = 3  # registered names offered for an unknown one


class Names:
    """The names one config key may take: ``has(name)`` as its builder resolves them,
    ``names()`` to suggest from, ``noun`` for the message."""

    def __init__(self, noun, has, names):
        self.noun, self.has, self.names = noun, has, names


def _registry(noun, registry, pick=None):
    """A registry's names; ``pick(name, cls)`` narrows the suggestions to this kind's (mmdet
    2.x keeps detectors, heads, losses, ... in one MODELS registry), never the lookup."""
    def has(name):
        try:
            return registry.get(name) is not None  # mmcv's lookup: 'mmcv.X' scopes too
        except (AttributeError, KeyError):  # a scope no registry of the tree knows
            return False

    def names():
        picked = [n for n, c in registry.module_dict.items() if pick is None or pick(n, c)]
        return picked or list(registry.module_dict)
    return Names(noun, has, names)


def _in_module(part):
    return lambda name, cls: part in cls.__module__.split(".")


def _named(suffix):
    return lambda name, cls: name.endswith(suffix)


def _roi_layers():
    """mmdet's RoI extractors take a layer by name from mmcv.ops (no registry);
    objprop's RoILayerExtractor also from its ROI_LAYERS."""
    from mmcv import ops

    from .models.roi_align import ROI_LAYERS

    def names():
        return sorted(set(ROI_LAYERS.module_dict) | {
            n for n in dir(ops) if "roi" in n.lower() and isinstance(getattr(ops, n), type)})
    return Names("RoI layer", lambda n: n in ROI_LAYERS or hasattr(ops, n), names)


def _updater_hooks(noun, suffix, hooks):
    """``lr_config.policy`` / ``momentum_config.policy``: mmcv registers the hook
    ``<Policy><suffix>`` (a lower-case policy title-cased: 'step' → StepLrUpdaterHook)."""
    def hook(name):
        return (name.title() if name == name.lower() else name) + suffix
    return Names(noun, lambda n: hook(n) in hooks,
                 lambda: [k[:-len(suffix)] for k in hooks.module_dict if k.endswith(suffix)])


def registries():
    """Every kind of config ``type`` this module knows, by a short key (the rules of
    :func:`location` return one); imports the modules that fill the registries."""
    from mmcv.cnn import ACTIVATION_LAYERS, CONV_LAYERS, NORM_LAYERS, UPSAMPLE_LAYERS
    from mmcv.cnn.utils.weight_init import INITIALIZERS
    from mmcv.runner import HOOKS, OPTIMIZERS, RUNNERS
    from mmdet.core.anchor.builder import PRIOR_GENERATORS
    from mmdet.core.bbox.builder import BBOX_ASSIGNERS, BBOX_CODERS, BBOX_SAMPLERS
    from mmdet.core.bbox.iou_calculators.builder import IOU_CALCULATORS
    from mmdet.datasets.builder import DATASETS, PIPELINES
    from mmdet.models.builder import MODELS
    from mmdet.models.detectors import BaseDetector

    # objprop's parts register on import (a config's custom_imports add its own)
    import objprop.data.dataset  # noqa: F401
    import objprop.models  # noqa: F401
    import objprop.training.resume  # noqa: F401
    import objprop.training.runners  # noqa: F401
    from .models.builder import FILLERS, TRACKERS
    return {
        # mmdet 2.x: DETECTORS, BACKBONES, NECKS, HEADS, ROI_EXTRACTORS, LOSSES are MODELS
        "detector": _registry("detector", MODELS,
                              lambda name, cls: issubclass(cls, BaseDetector)),
        "backbone": _registry("backbone", MODELS, _in_module("backbones")),
        "neck": _registry("neck", MODELS, _in_module("necks")),
        "head": _registry("head", MODELS, _named("Head")),
        "roi_extractor": _registry("RoI extractor", MODELS, _named("Extractor")),
        "loss": _registry("loss", MODELS, _named("Loss")),
        "roi_layer": _roi_layers(),
        "norm": _registry("norm layer", NORM_LAYERS),
        "conv": _registry("conv layer", CONV_LAYERS),
        "act": _registry("activation layer", ACTIVATION_LAYERS),
        "upsample": _registry("upsample layer", UPSAMPLE_LAYERS),
        "init": _registry("initializer", INITIALIZERS),
        "assigner": _registry("box assigner", BBOX_ASSIGNERS),
        "sampler": _registry("box sampler", BBOX_SAMPLERS),
        "coder": _registry("box coder", BBOX_CODERS),
        "prior": _registry("anchor generator", PRIOR_GENERATORS),
        "iou": _registry("IoU calculator", IOU_CALCULATORS),
        "tracker": _registry("tracker", TRACKERS),
        "filler": _registry("filler", FILLERS),
        "dataset": _registry("dataset", DATASETS),
        "pipeline": _registry("pipeline transform", PIPELINES),
        "optimizer": _registry("optimizer", OPTIMIZERS),
        "runner": _registry("runner", RUNNERS),
        "hook": _registry("hook", HOOKS),
        "lr_policy": _updater_hooks("lr policy", "LrUpdaterHook", HOOKS),
        "momentum_policy": _updater_hooks("momentum policy", "MomentumUpdaterHook", HOOKS),
    }


# a dict under `model` by its own key: the registry its builder uses
MODEL_KEYS = {
    "backbone": "backbone", "neck": "neck", "shared_head": "head",
    "roi_layer": "roi_layer", "norm_cfg": "norm", "conv_cfg": "conv", "dcn": "conv",
    "act_cfg": "act", "upsample_cfg": "upsample", "init_cfg": "init",
    "assigner": "assigner", "sampler": "sampler", "bbox_coder": "coder",
    "anchor_generator": "prior", "prior_generator": "prior", "point_generator": "prior",
    "iou_calculator": "iou",
}
# top-level dicts built as hooks by mmcv's register_training_hooks (lr_config and
# momentum_config name theirs by `policy`, which replaces any `type`)
HOOK_KEYS = {"optimizer_config", "checkpoint_config", "timer_config"}
PIPELINE_KEYS = {"pipeline", "train_pipeline", "test_pipeline"}
# list keys of pipeline steps that hold steps of their own (not Albu's `transforms`, which
# are albumentations' names)
NESTED_PIPELINES = {"MultiScaleFlipAug": "transforms"}


def location(path, parent_type=None):
    """The kind (a key of :func:`registries`) of the ``type`` in the dict at ``path`` (config
    keys, list positions as ints; ``parent_type``: the type of the dict holding its list);
    None where it is not known (skipped)."""
    keys = [k for k in path if isinstance(k, str)]
    last = keys[-1] if keys else None
    in_list = bool(path) and isinstance(path[-1], int)
    if in_list and (last in PIPELINE_KEYS or NESTED_PIPELINES.get(parent_type) == last):
        return "pipeline"                        # data.*.pipeline[*], MultiScaleFlipAug's
    if not keys:
        return None
    top = keys[0]
    if top == "model":
        if len(path) == 1:
            return "detector"
        if len(keys) >= 2 and keys[-2] == "test_cfg" and last in ("track", "prop"):
            return "tracker" if last == "track" else "filler"
        if last in MODEL_KEYS and not (in_list and last != "init_cfg"):
            return MODEL_KEYS[last]
        if not in_list and last.startswith("loss_"):
            return "loss"
        if not in_list and (last.endswith("_roi_extractor")):
            return "roi_extractor"
        if not in_list and last.endswith("_head"):
            return "head"
        return None
    if top == "data":
        if len(keys) == 2 and len(path) == 2:    # data.train / val / test
            return "dataset"
        if last == "dataset" and not in_list or last == "datasets" and in_list:
            return "dataset"                     # RepeatDataset, ConcatDataset, ...
        return None
    if len(path) == 1:
        return {"optimizer": "optimizer", "runner": "runner"}.get(top) or \
            ("hook" if top in HOOK_KEYS else None)
    if in_list and (path[:2] == ("log_config", "hooks") and len(path) == 3
                    or top == "custom_hooks" and len(path) == 2):
        return "hook"
    return None


def _closest(name, names):
    """The registered names closest to ``name`` (case aside), best first."""
    by_lower = {}
    for n in sorted(names):
        by_lower.setdefault(n.lower(), n)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=SUGGESTIONS, cutoff=0)
    return [by_lower[c] for c in close]


def _entries(node, path=()):
    """(path, dict) of every dict in the config tree, depth first in file order."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _entries(value, path + (key,))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _entries(value, path + (i,))


def path_text(path):
    """``("data", "train", "pipeline", 2)`` → ``data.train.pipeline[2]``."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def located_types(tree):
    """``(path, field, name, kind)`` of every ``type`` (and lr / momentum ``policy``) in a
    config tree whose registry :func:`location` knows (``kind``: a key of
    :func:`registries`)."""
    types = {}
    for path, entry in _entries(tree):
        types[path] = entry.get("type")
        checks = [("type", location(path, types.get(path[:-2])))]
        if path in (("lr_config",), ("momentum_config",)):
            checks.append(("policy", path[0].split("_")[0] + "_policy"))
        for field, kind in checks:
            name = entry.get(field)
            if kind is not None and isinstance(name, str):  # a class given as is: built
                yield path, field, name, kind


def unknown_types(cfg):
    """``(key, name, kind)`` for every ``type`` (and lr / momentum ``policy``) in ``cfg``
    (an mmcv Config or a dict) that its registry does not hold; ``kind`` a :class:`Names`."""
    tree = cfg._cfg_dict.to_dict() if hasattr(cfg, "_cfg_dict") else cfg
    custom = tree.get("custom_imports")
    if custom:
        from mmcv.utils import import_modules_from_strings
        try:
            import_modules_from_strings(**custom)
        except (ImportError, TypeError) as exc:
            raise ObjPropError(f"custom_imports: {exc}") from None
    kinds = registries()
    return [(f"{path_text(path)}.{field}", name, kinds[kind])
            for path, field, name, kind in located_types(tree) if not kinds[kind].has(name)]


def check_config_types(cfg, config=None):
    """Raise one :class:`ObjPropError` line for the first unknown ``type`` of ``cfg``:
    ``<config>: model.roi_head.type: 'Nope' is not a registered head; did you mean A, B,
    C?``. ``config`` is the file named in the message."""
    bad = unknown_types(cfg)
    if bad:
        key, name, kind = bad[0]
        raise ObjPropError(f"{key}: {name!r} is not a registered {kind.noun}; did you mean "
                           f"{', '.join(_closest(name, kind.names()))}?", path=config)
