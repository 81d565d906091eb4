"""Initialising from mmdet's COCO Mask R-CNN checkpoint (the paper's starting point).

The file a user downloads (``mask_rcnn_r50_fpn_*_coco*.pth``) has mmdet 2.x's key layout
(``{"state_dict": {...}, "meta": {...}}``, keys such as ``backbone.conv1.weight``,
``roi_head.bbox_head.fc_cls.weight``). Everything whose shape fits is loaded. The
class-dependent layers (box classifier, box regressor, mask logits) are *re-sized*: their
new-size weights keep the model's own initialisation, except the classifier's background row,
which mmdet 2.x keeps last and which means the same for any class set, so it is copied.
Layers the checkpoint lacks (track head, propagation head) keep their initialisation.

The toy configs name their start ``pretrained://<pretraining config's name>`` (the toy
detector pre-trained on ToyCOCO by ``objprop pretrain``, the toy world's COCO checkpoint):
:func:`resolve_pretrained` turns that into the file this machine's cache holds
(``<cache>/<name>.json`` points at the entry ``objprop pretrain`` last made or reused for
that config), when the config is loaded; unresolved, a training refuses it in one line.

``read_checkpoint`` and ``load_model_checkpoint`` (a trained checkpoint of the model itself,
for ``objprop test`` and the oracle study) read every checkpoint the library loads, so
that an empty, truncated, foreign or non-checkpoint file is one line naming it.
"""
import json
import os
import pickle
import zipfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ObjPropError

PRETRAINED_SCHEME = "pretrained://"
MODEL_FILE = "model.pth"   # an entry's weights: <cache>/<key>/model.pth
CLASS_DEPENDENT = ("roi_head.bbox_head.fc_cls", "roi_head.bbox_head.fc_reg",
                   "roi_head.mask_head.conv_logits")

# torch.save writes a zip archive (torch >= 1.6) or, in the legacy format, a pickle
# (PROTO opcode 0x80, then the protocol, 2 to 5); anything else is not a checkpoint
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))
# RuntimeErrors torch.load raises for a damaged file (and only for one)
_CORRUPT_MESSAGES = ("PytorchStreamReader", "Invalid magic number", "corrupt")


def pretrained_cache_root(cache_dir=None):
    """Where pretrained checkpoints are cached on this machine: ``cache_dir``, else
    ``$OBJPROP_PRETRAINED_CACHE``, else ``$XDG_CACHE_HOME/objprop/pretrained`` (default
    ``~/.cache/objprop/pretrained``), as the mmcv wheel is cached per machine."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("OBJPROP_PRETRAINED_CACHE"):
        return Path(os.environ["OBJPROP_PRETRAINED_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "objprop" / "pretrained"


def pretrained_pointer(name, cache_dir=None):
    """The file naming the cache entry ``pretrained://<name>`` resolves to."""
    return pretrained_cache_root(cache_dir) / f"{name}.json"


def write_pretrained_pointer(name, key, cache_dir=None):
    """Point ``pretrained://<name>`` at the cache entry ``key`` (atomically)."""
    from .io import write_json_atomic
    write_json_atomic(dict(name=name, key=key), pretrained_pointer(name, cache_dir), indent=2)


def resolve_pretrained(load_from, cache_dir=None):
    """``pretrained://<name>`` → the weights of the cache entry its pointer names, when both
    exist; anything else (a path, ``None``, an entry not made yet) is returned unchanged."""
    if not is_pretrained_url(load_from):
        return load_from
    try:
        key = json.loads(pretrained_pointer(pretrained_name(load_from),
                                            cache_dir).read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return load_from
    weights = pretrained_cache_root(cache_dir) / str(key) / MODEL_FILE
    return str(weights) if weights.is_file() else load_from


def is_pretrained_url(load_from):
    return isinstance(load_from, str) and load_from.startswith(PRETRAINED_SCHEME)


def pretrained_name(load_from):
    """``pretrained://<name>`` → ``<name>``: the pretraining config's name (its file stem)."""
    return load_from[len(PRETRAINED_SCHEME):]


def unresolved_start_message(load_from):
    """The one line a training gives when its ``pretrained://`` start is not made yet."""
    return (f"the toy detector's pretrained start ({load_from}) is not in this machine's "
            f"cache ({pretrained_cache_root()}): run `make pretrain` (objprop pretrain, once per "
            f"machine), or pass --cfg-options load_from=None to train from "
            f"scratch")


def check_checkpoint_file(path):
    """The cheap checks before a load: the file is not empty and starts as ``torch.save``
    writes (a zip archive whose directory reads, or the legacy pickle). One
    ``ObjPropError`` line naming the file otherwise."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise ObjPropError("not a readable PyTorch checkpoint (the file is empty)", path=path)
    if not head.startswith((_ZIP_MAGIC,) + _LEGACY_MAGIC):
        raise ObjPropError("not a readable PyTorch checkpoint (neither the zip archive nor "
                           "the pickle torch.save writes)", path=path)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                archive.namelist()
        except zipfile.BadZipFile:
            raise ObjPropError("not a readable PyTorch checkpoint (truncated or corrupt zip "
                               "archive: an interrupted download or copy?)", path=path)


@contextmanager
def damaged_checkpoint_errors(path):
    """Around any ``torch.load`` of ``path`` (ours, or mmcv's inside a runner's
    ``load_checkpoint``): the errors that mean "this file is damaged" become one
    ``ObjPropError`` line naming it; anything else keeps its traceback."""
    try:
        yield
    except (pickle.UnpicklingError, EOFError) as exc:
        reason = _reason(exc)
        if reason.startswith("Unsupported global"):    # (a cut name reads as one too)
            raise ObjPropError(f"not a readable PyTorch checkpoint (torch's safe loader "
                               f"refuses it: {reason}; truncated, or holding Python "
                               f"objects beyond tensors?)", path=path) from None
        raise ObjPropError(f"not a readable PyTorch checkpoint (truncated or corrupt: "
                           f"{type(exc).__name__}{': ' + reason if reason else ''})",
                           path=path) from None
    except RuntimeError as exc:
        if not any(m in str(exc) for m in _CORRUPT_MESSAGES):
            raise
        raise ObjPropError(f"not a readable PyTorch checkpoint (truncated or corrupt: "
                           f"{_reason(exc)})", path=path) from None


def read_checkpoint(path, weights_only=True):
    """Read a checkpoint file written by ``torch.save`` (mmcv's layout ``{"state_dict",
    "meta", ...}`` or a bare state dict): returns ``(checkpoint, state_dict)`` with any
    ``module.`` prefix (DataParallel) stripped from the keys.

    A file that is empty, truncated, not a checkpoint at all (a JSON, random bytes) or
    holds no tensors is one ``ObjPropError`` line naming it, and so is (with
    ``weights_only``, torch's safe loader) one that holds Python objects beyond tensors
    (:func:`check_checkpoint_file`, :func:`damaged_checkpoint_errors`).
    """
    import torch
    path = Path(path)
    check_checkpoint_file(path)
    with damaged_checkpoint_errors(path):
        ckpt = torch.load(str(path), map_location="cpu", weights_only=weights_only)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or \
            not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                    for k, v in state.items()):
        raise ObjPropError("no state_dict in checkpoint (not a dict of named tensors)",
                           path=path)
    state = {k[len("module."):] if k.startswith("module.") else k: v
             for k, v in state.items()}
    return ckpt, state


def _reason(exc):
    """The gist of a torch.load error, short and on one line (the weights-only loader
    wraps the real reason in a paragraph of advice)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    line = (text.strip().splitlines() or [""])[0]
    if line.startswith("Unsupported global"):
        line = line.split(" was not an allowed global")[0]
    return line if len(line) <= 100 else line[:97] + "..."


def _foreign(state):
    example = next(iter(state))
    return (f"checkpoint shares no weights with the model ({len(state)} tensors such as "
            f"'{example}'): a checkpoint of another model?")


def load_model_checkpoint(model, path):
    """Load a trained checkpoint of this very model (``objprop test``, the oracle study);
    returns the checkpoint dict (its ``meta`` carries ``CLASSES``).

    Refused with one line naming the file: an unreadable file (see ``read_checkpoint``), a
    checkpoint that shares no tensor name with the model (another model's), and one whose
    shared tensors have other shapes (another class count or architecture). Tensors the
    checkpoint lacks keep their initialisation, with mmcv's warning, as before.
    """
    from mmcv.runner import load_state_dict
    if not Path(path).is_file():
        raise ObjPropError("checkpoint not found", path=path)
    ckpt, state = read_checkpoint(path)
    own = model.state_dict()
    shared = set(state) & set(own)
    if not shared:
        raise ObjPropError(_foreign(state), path=path)
    other = sorted(k for k in shared if state[k].shape != own[k].shape)
    if other:
        k = other[0]
        raise ObjPropError(f"checkpoint does not fit the model: {len(other)} tensors have "
                           f"other shapes (e.g. {k}: {list(state[k].shape)} in the file, "
                           f"{list(own[k].shape)} in the model): trained with another "
                           f"config?", path=path)
    load_state_dict(model, state, strict=False)
    return ckpt if isinstance(ckpt, dict) else {}


def load_coco_init(model, path, logger=None):
    """Load a COCO Mask R-CNN checkpoint into ``model``; returns what was done.

    Returns:
        dict with ``loaded`` (keys copied), ``resized`` (class-dependent keys re-sized),
        ``skipped`` (checkpoint keys the model lacks or with other shapes),
        ``missing`` (model keys the checkpoint lacks).
    """
    if not Path(path).is_file():
        raise ObjPropError("pretrained checkpoint not found (download mmdet's COCO Mask "
                           "R-CNN checkpoint there, or set load_from=None)", path=path)
    _, state = read_checkpoint(path, weights_only=False)
    own = model.state_dict()
    if not set(state) & set(own):
        raise ObjPropError(_foreign(state), path=path)
    new_state, report = {}, dict(loaded=[], resized=[], skipped=[], missing=[])
    for key, value in state.items():
        if key not in own:
            report["skipped"].append(key)
        elif own[key].shape == value.shape:
            new_state[key] = value
            report["loaded"].append(key)
        elif key.startswith(CLASS_DEPENDENT):
            new_state[key] = _resize_class_layer(key, value, own[key])
            report["resized"].append(key)
        else:
            report["skipped"].append(key)
    report["missing"] = sorted(set(own) - set(new_state))
    model.load_state_dict(new_state, strict=False)
    if logger is not None:
        logger.info(f"COCO init from {path}: {len(report['loaded'])} tensors loaded, "
                    f"re-sized {report['resized']}, {len(report['missing'])} left as "
                    f"initialised")
    return report


def _resize_class_layer(key, value, own):
    out = own.clone()
    if key.startswith("roi_head.bbox_head.fc_cls"):
        out[-1] = value[-1]  # background row: last in mmdet 2.x
    return out
