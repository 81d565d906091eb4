"""One training request, listed once: :class:`TrainSettings`.

Its fields are the flags of ``objprop train`` (:meth:`TrainSettings.add_arguments` builds
them from the fields' metadata), the arguments of :func:`objprop.training.train` and of the
book's :func:`objprop.training.train_subprocess`, and what a finished run is compared with
before it is reused (:meth:`TrainSettings.request`). Relaunches (torchrun's workers, the book's
training subprocess) turn the same object back into a command line with
:meth:`TrainSettings.argv`, so no caller rebuilds argv by hand.

``--cfg-options`` is parsed by mmcv's :class:`~mmcv.DictAction` (``key=value``, ``key=a,b``
or ``key=[a,b]`` for lists, ``(a,b)`` for tuples, ``None``/``true``/numbers as such); the
settings hold the resulting dict, whose keys must name entries of the config
(:func:`check_cfg_options`).
"""
import argparse
import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

from ..config import CfgOptionsAction, check_option_keys, parse_cfg_options
from ..errors import ObjPropError

SUMMARY_NAME = "train_summary.json"
# top-level keys the trainer reads although a config may not define them
TRAINER_KEYS = {"find_unused_parameters", "resume_from", "load_from", "work_dir",
                "custom_hooks", "momentum_config", "base_batch_size"}


def format_cfg_value(value):
    """The inverse of ``DictAction``'s value parsing, for :meth:`TrainSettings.argv`."""
    if isinstance(value, (list, tuple)):
        inner = ",".join(format_cfg_value(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, str) and any(c in value for c in ",()[] "):
        raise ObjPropError(f"--cfg-options value {value!r} cannot be passed on a command line "
                           "(commas, brackets or spaces)")
    if isinstance(value, dict):
        raise ObjPropError(f"--cfg-options value {value!r}: give its dotted keys instead")
    return str(value)


# numpy's legacy seeding takes [0, 2**32), and mmdet's data workers seed with
# seed + workers * rank + worker id: this bound leaves room for any world size
MAX_SEED = 2 ** 31


def _flag(flag, help, **argparse_kwargs):
    return dict(flag=flag, help=help, argparse=argparse_kwargs)


@dataclass
class TrainSettings:
    """What one ``objprop train`` run is asked to do. Field metadata: the flag and its help."""
    config: str = field(metadata=_flag("--config", "mmdet-style config (configs/*.py)",
                                       required=True))
    data_root: str = field(default=None, metadata=_flag(
        "--data", "data folder in the official layout (default: the config's)",
        metavar="DIR"))
    work_dir: str = field(default=None, metadata=_flag(
        "--work-dir", "checkpoints and logs (default: work_dirs/<config>/seed<seed>: one "
        "folder per config and seed)"))
    gpus: int = field(default=0, metadata=_flag(
        "--gpus", "GPUs per node (one process each; more than one in all launches torchrun "
        "with NCCL)", type=int))
    procs: int = field(default=1, metadata=_flag(
        "--procs", "CPU processes per node when --gpus 0 (more than one in all launches "
        "torchrun with gloo)", type=int))
    nnodes: int = field(default=1, metadata=_flag(
        "--nnodes", "machines taking part (torchrun's static rendezvous at --master-addr; run "
        "the same command on each with its --node-rank)", type=int))
    node_rank: int = field(default=0, metadata=_flag(
        "--node-rank", "this machine's rank, 0 .. nnodes-1 (rank 0 writes checkpoints and "
        "logs)", type=int))
    master_addr: str = field(default="127.0.0.1", metadata=_flag(
        "--master-addr", "address of the node of rank 0, reachable from every node"))
    master_port: int = field(default=29500, metadata=_flag(
        "--master-port", "a free TCP port on the node of rank 0", type=int))
    resume: bool = field(default=False, metadata=_flag(
        "--resume", "continue from the newest checkpoint in the work folder, if any"))
    max_iters: int = field(default=None, metadata=_flag(
        "--max-iters", "short run: N iterations (iteration schedules are compressed, epoch "
        "schedules stopped after N iterations)", type=int))
    epochs: int = field(default=None, metadata=_flag(
        "--epochs", "number of epochs (see objprop.training's docs)", type=int))
    samples_per_gpu: int = field(default=None, metadata=_flag(
        "--samples-per-gpu", "images per process (lr scales linearly with the total batch)",
        type=int))
    seed: int = field(default=0, metadata=_flag("--seed", "training seed", type=int))
    # Bouthillier et al. (2021) split a training's randomness into the weights' initialisation
    # and what comes after it; the variance study (objprop.studies.variance) varies each alone
    data_seed: int = field(default=None, metadata=_flag(
        "--data-seed", "seed of every random draw after the model is initialised (data "
        "order, augmentation, proposal sampling); default: --seed, which then seeds the "
        "initialisation only", type=int))
    threads: int = field(default=None, metadata=_flag(
        "--threads", "CPU threads of each training process (default: every core, fewer "
        "while other processes keep cores busy; with --procs P, cores / P); a fixed count is "
        "recorded in the checkpoints and kept by --resume, which then repeats the run's "
        "losses on a busy machine too; not part of the experiment: a finished run is reused "
        "whatever its thread count", type=int))
    profile_iters: int = field(default=None, metadata=_flag(
        "--profile-iters", "record the last K iterations with torch.profiler: wall, data "
        "wait, GPU busy time, top operators into <work_dir>/profile.json (not part of the "
        "experiment)", type=int, metavar="K"))
    cfg_options: dict = field(default_factory=dict, metadata=_flag(
        "--cfg-options", "override config keys (dotted; list items by index; mmcv's "
        "DictAction syntax); keys must exist", nargs="+", metavar="KEY=VALUE",
        action=CfgOptionsAction))
    launcher: str = field(default="none", metadata=_flag(
        "--launcher", argparse.SUPPRESS, choices=["none", "pytorch"]))  # torchrun's workers

    def __post_init__(self):
        self.config = str(self.config)
        if self.data_root is not None:
            self.data_root = str(self.data_root)
        if self.work_dir is not None:
            self.work_dir = str(self.work_dir)
        self.cfg_options = parse_cfg_options(self.cfg_options)

    # ------------------------------------------------------------------ command line

    @classmethod
    def add_arguments(cls, parser):
        for f in fields(cls):
            meta = f.metadata
            kwargs = dict(meta["argparse"], help=meta["help"], dest=f.name)
            if f.type is bool or f.type == "bool":
                kwargs["action"] = "store_true"
            elif "required" not in kwargs:
                kwargs["default"] = _default(f)
            parser.add_argument(meta["flag"], **kwargs)

    @classmethod
    def from_args(cls, args):
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    def argv(self):
        """The ``objprop train`` arguments that parse back into these settings (flags left
        at their defaults are omitted)."""
        out = []
        for f in fields(self):
            value = getattr(self, f.name)
            default = _default(f)
            flag = f.metadata["flag"]
            if value == default and f.name != "config":
                continue
            if isinstance(value, bool):
                out.append(flag)
            elif f.name == "cfg_options":
                out += [flag, *(f"{k}={format_cfg_value(v)}" for k, v in value.items())]
            else:
                out += [flag, str(value)]
        return out

    def replace(self, **changes):
        return replace(self, **changes)

    # ------------------------------------------------------------------ derived

    @property
    def order_seed(self):
        """The seed of the draws after the initialisation (``--data-seed``, else ``--seed``)."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def procs_per_node(self):
        return self.gpus if self.gpus else self.procs

    @property
    def world_size(self):
        return self.procs_per_node * self.nnodes

    def resolved_work_dir(self, cfg=None):
        return str(self.work_dir or (cfg.get("work_dir") if cfg is not None else None)
                   or run_dir("work_dirs", self.config, self.seed))

    def check(self):
        """Fail early, in one line, on what can be checked before any process starts;
        returns the prepared config (:func:`prepare_config`)."""
        if self.gpus < 0 or self.procs < 1:
            raise ObjPropError(f"--gpus must be >= 0 and --procs >= 1 (got {self.gpus}, "
                               f"{self.procs})")
        if self.gpus and self.procs > 1:
            raise ObjPropError("--procs is for CPU runs (--gpus 0); with --gpus N there is "
                               "one process per GPU")
        if self.nnodes < 1 or not 0 <= self.node_rank < self.nnodes:
            raise ObjPropError(f"--node-rank must be in 0 .. --nnodes - 1 (got node rank "
                               f"{self.node_rank} of {self.nnodes})")
        if not 0 < self.master_port < 65536:
            raise ObjPropError(f"--master-port must be a TCP port (got {self.master_port})")
        for name, v in (("--max-iters", self.max_iters), ("--epochs", self.epochs),
                        ("--samples-per-gpu", self.samples_per_gpu), ("--threads", self.threads),
                        ("--profile-iters", self.profile_iters)):
            if v is not None and v < 1:
                raise ObjPropError(f"{name} must be >= 1 (got {v})")
        for name, v in (("--seed", self.seed), ("--data-seed", self.data_seed)):
            if v is not None and not 0 <= v < MAX_SEED:  # numpy's legacy seeding: [0, 2**32)
                raise ObjPropError(f"{name} must be in 0 .. {MAX_SEED - 1} (got {v})")
        if self.work_dir is not None and Path(self.work_dir).exists() and \
                not Path(self.work_dir).is_dir():
            raise ObjPropError("--work-dir is a file, not a folder", path=self.work_dir)
        if self.max_iters and self.epochs:
            raise ObjPropError("give --max-iters or --epochs, not both")
        if self.gpus:
            from ..doctor import require_gpu_support
            require_gpu_support(self.gpus)
        cfg, _ = prepare_config(self.config, self.data_root, self.cfg_options)
        from ..checkpoint import is_pretrained_url, unresolved_start_message
        if is_pretrained_url(cfg.get("load_from")):
            raise ObjPropError(unresolved_start_message(cfg.load_from), path=self.config)
        if cfg.get("load_from") and not Path(cfg.load_from).is_file():
            raise ObjPropError("pretrained checkpoint (load_from) not found: download mmdet's "
                               "COCO Mask R-CNN checkpoint there, or pass --cfg-options "
                               "load_from=None", path=cfg.load_from)
        return cfg

    def request(self):
        """What a finished run is compared with before a resumed book run skips it: the
        settings that change the result, plus what they point at (the config's content with
        its bases and options, the training data's version), so an edited config or
        regenerated data is trained again rather than reused. Where the run is written, how
        it was resumed and how its nodes met do not count."""
        keep = asdict(self)
        for k in ("work_dir", "resume", "launcher", "node_rank", "master_addr", "master_port",
                  "threads", "profile_iters"):
            keep.pop(k)
        if self.data_seed is None:  # the default: the same request as before the flag existed
            keep.pop("data_seed")
        keep.update(config=str(Path(self.config).resolve()),
                    data_root=None if self.data_root is None
                    else str(Path(self.data_root).resolve()),
                    procs=self.procs if not self.gpus else 1,
                    cfg_options=json.loads(json.dumps(self.cfg_options, default=str)))
        return dict(keep, **content_fingerprint(self.config, self.data_root, self.cfg_options))


def _default(f):
    return f.default_factory() if f.default_factory is not MISSING else f.default


# ----------------------------------------------------------------------------- the config

def check_cfg_options(cfg, options, config):
    """Every ``--cfg-options`` key must name an existing config entry (list items by index);
    a few top-level keys the trainer reads (:data:`TRAINER_KEYS`) are allowed as new."""
    check_option_keys(cfg, options, config, allowed_new=TRAINER_KEYS)


def prepare_config(config, data_root=None, cfg_options=None):
    """The mmcv Config of a training run: re-pointed at ``data_root``, options applied and
    checked (keys, and every ``type`` registered); the train split's files must exist.
    Returns it and the option keys given."""
    from ..config import load_config
    from ..registries import check_config_types
    if data_root is not None and not Path(data_root).is_dir():
        raise ObjPropError("data folder not found", path=data_root)
    options = parse_cfg_options(cfg_options)
    if options:
        check_cfg_options(load_config(config), options, config)
    cfg = load_config(config, data_root=data_root, cfg_options=options or None)
    check_config_types(cfg, config)
    train = cfg.data.train
    if not Path(train.ann_file).is_file():
        raise ObjPropError("training annotation file not found (pass --data DIR)",
                           path=train.ann_file)
    if not Path(train.img_prefix).is_dir():
        raise ObjPropError("training frame folder not found", path=train.img_prefix)
    return cfg, sorted(options)


def content_fingerprint(config, data_root=None, cfg_options=None):
    """``config_sha``: a hash of the fully loaded config (bases merged, options applied);
    ``data_version``: the training annotation file's ``info`` (ToyVIS writes its generator
    version and data seed there) and its size. Unreadable inputs give ``None`` entries, and
    the training itself then reports them."""
    try:
        cfg, _ = prepare_config(config, data_root, cfg_options)
    except ObjPropError:
        return dict(config_sha=None, data_version=None)
    text = json.dumps(cfg._cfg_dict.to_dict(), sort_keys=True, default=str)
    return dict(config_sha=hashlib.sha256(text.encode()).hexdigest()[:16],
                data_version=data_version(cfg.data.train.ann_file))


def data_version(ann_file):
    """The version of a training annotation file: its ``info`` block (for files up to
    64 MiB; YouTube-VIS's are larger and are told apart by size) and its size in bytes."""
    path = Path(ann_file)
    size = path.stat().st_size
    info = None
    if size <= 64 << 20:
        try:
            info = json.loads(path.read_text()).get("info")
        except (ValueError, AttributeError):
            info = None
    return dict(info=info, bytes=size)


def run_dir(work_dir, config, seed):
    """The work folder of one training run: ``<work_dir>/<config name>/seed<seed>``. Each
    method and seed has its own, so a second seed never resumes the first one's run."""
    return str(Path(work_dir) / Path(config).stem / f"seed{seed}")
