"""`objprop`: one command, one subcommand per step of the book. Thin: flags → library."""
import argparse
import importlib
import sys

from .errors import ObjPropError


def _doctor(args):
    from .doctor import environment_report, format_report, require_gpu_support
    report = environment_report()
    print(format_report(report))
    require_gpu_support(args.gpus, report)
    if args.check_gpu:
        from .gpu_check import check_gpu
        check_gpu(iters=args.iters, record=args.json, environment=report)
    if args.check_gpu_paper:
        from .gpu_check_paper import Size, check_gpu_paper
        check_gpu_paper(size=Size(warmup=args.paper_warmup, iters=args.paper_iters,
                                  authors=args.authors, workers_after=args.workers_after),
                        record=args.json, environment=report)


def _evaluate(args):
    from .evaluation import evaluate_files, format_table
    metrics = evaluate_files(args.gt, args.results, args.out)
    print(format_table(metrics))


# the subcommands whose flags and work live in a library module: (name, help, module, the
# module's function that adds the flags); each module's ``run_from_args(args)`` does the work
SUBCOMMANDS = [
    ("make-toyvis", "write the embedded synthetic data set", "objprop.data.toyvis",
     "add_toyvis_arguments"),
    ("train", "train a model (CPU, or N GPUs / several machines via torchrun)",
     "objprop.training", "add_train_arguments"),
    ("test", "online inference over a split → YouTube-VIS results", "objprop.inference",
     "add_test_arguments"),
    ("oracle", "Table 1: the oracle study", "objprop.present.oracle", "add_oracle_arguments"),
    ("prepare", "real YouTube-VIS 2019/2021 or OVIS: check the layout, write the train_sub / "
     "minival (and valid) splits", "objprop.data.prepare", "add_prepare_arguments"),
    ("pretrain", "the toy detector pre-trained on ToyCOCO (the paper's COCO start), its AP; "
     "cached per machine", "objprop.pretrain", "add_pretrain_arguments"),
    ("book", "the book: run the chapters, rewrite the README block, regenerate the smoke "
     "notebooks, train the branch variants", "objprop.book", "add_book_arguments"),
    ("demo", "a trained model on your own video (file or frames) → overlay video + "
     "per-frame tracks JSON", "objprop.demo", "add_demo_arguments"),
]


# subcommands that never load torch: no OpenMP setting to make, and importing
# objprop.training for it would load torch and mmdet
TORCH_FREE = ("evaluate",)


def build_parser(command=None):
    """The whole parser; with ``command``, another subcommand's module is not imported (its
    flags not added): `objprop evaluate` starts without torch and mmdet, which the training
    and inference modules load (seconds of a whole evaluation)."""
    from .config import positive_int
    p = argparse.ArgumentParser(prog="objprop", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("doctor", help="versions, mmcv ops, GPUs")
    d.add_argument("--gpus", type=int, default=0,
                   help="fail unless this many GPUs can be used with mmcv's CUDA ops")
    d.add_argument("--check-gpu", action="store_true",
                   help="train each toy method on one GPU and compare its online inference "
                        "with the CPU's (objprop.gpu_check; `make gpu-check`)")
    d.add_argument("--iters", type=positive_int, default=50,
                   help="--check-gpu: training iterations on the GPU")
    d.add_argument("--check-gpu-paper", action="store_true",
                   help="the paper's R50-FPN configs on one GPU through book/train.md "
                        "(papermill): s/iteration, data wait, memory, DDP, profiles "
                        "(objprop.gpu_check_paper; `make gpu-check-paper`)")
    d.add_argument("--paper-iters", type=positive_int, default=50,
                   help="--check-gpu-paper: iterations timed after the warm-up")
    d.add_argument("--paper-warmup", type=positive_int, default=10,
                   help="--check-gpu-paper: warm-up iterations left out of the timing")
    d.add_argument("--authors", action="store_true",
                   help="--check-gpu-paper: train the authors' preset too")
    d.add_argument("--workers-after", type=positive_int, metavar="N",
                   help="--check-gpu-paper: profile the paper's size again with N data "
                        "workers (before and after side by side)")
    d.add_argument("--json", metavar="PATH",
                   help="--check-gpu / --check-gpu-paper: also write the environment and "
                        "the figures here (the paper part under \"paper\")")
    d.set_defaults(func=_doctor)

    e = sub.add_parser("evaluate", help="YouTube-VIS metrics, temporal stability, HOTA / DetA / AssA")
    e.add_argument("--gt", required=True)
    e.add_argument("--results", required=True)
    e.add_argument("--out")
    e.set_defaults(func=_evaluate)

    for name, help_text, module, add_arguments in SUBCOMMANDS:
        sp = sub.add_parser(name, help=help_text)
        if command not in (None, name):
            continue
        mod = importlib.import_module(module)
        getattr(mod, add_arguments)(sp)
        sp.set_defaults(func=mod.run_from_args)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in TORCH_FREE:
        # libgomp reads its spin setting when torch is first loaded, which parsing may do
        # (--cfg-options uses mmcv): set it first (objprop/training/threads.py says why)
        from .training.threads import configure_process
        configure_process()
    args = build_parser(command).parse_args(argv)
    try:
        args.func(args)
    except ObjPropError as exc:
        print(f"objprop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
