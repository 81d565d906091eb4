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
    ("book", "the book: run the chapters, rewrite the README block, regenerate the smoke "
     "notebooks, train the branch variants", "objprop.book", "add_book_arguments"),
    ("demo", "a trained model on your own video (file or frames) → overlay video + "
     "per-frame tracks JSON", "objprop.demo", "add_demo_arguments"),
]


def build_parser():
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
    d.add_argument("--json", metavar="PATH",
                   help="--check-gpu: also write the environment and the table's rows here")
    d.set_defaults(func=_doctor)

    e = sub.add_parser("evaluate", help="YouTube-VIS metrics, temporal stability, HOTA / DetA / AssA")
    e.add_argument("--gt", required=True)
    e.add_argument("--results", required=True)
    e.add_argument("--out")
    e.set_defaults(func=_evaluate)

    for name, help_text, module, add_arguments in SUBCOMMANDS:
        mod = importlib.import_module(module)
        sp = sub.add_parser(name, help=help_text)
        getattr(mod, add_arguments)(sp)
        sp.set_defaults(func=mod.run_from_args)
    return p


def main(argv=None):
    # libgomp reads its spin setting when torch is first loaded, which parsing may do
    # (--cfg-options uses mmcv): set it first (objprop/training/threads.py says why)
    from .training.threads import configure_process
    configure_process()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ObjPropError as exc:
        print(f"objprop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
