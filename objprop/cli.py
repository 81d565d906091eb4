"""`objprop`: one command, one subcommand per step of the book. Thin: flags → library."""
import argparse
import sys

from .errors import ObjPropError


def _doctor(args):
    from .doctor import environment_report, format_report, require_gpu_support
    report = environment_report()
    print(format_report(report))
    require_gpu_support(args.gpus, report)


def _make_toyvis(args):
    from .data.toyvis import run_from_args
    run_from_args(args)


def _evaluate(args):
    from .evaluation import evaluate_files, format_table
    metrics = evaluate_files(args.gt, args.results, args.out)
    print(format_table(metrics))


def _train(args):
    from .training import run_from_args
    run_from_args(args)


def _test(args):
    from .inference import run_from_args
    run_from_args(args)


def _oracle(args):
    from .oracle import run_from_args
    run_from_args(args)


def _demo(args):
    from .demo import run_from_args
    run_from_args(args)


def _prepare(args):
    from .data.prepare import run_from_args
    run_from_args(args)


def _book(args):
    from .book import run_from_args
    run_from_args(args)


def build_parser():
    p = argparse.ArgumentParser(prog="objprop", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("doctor", help="versions, mmcv ops, GPUs")
    d.add_argument("--gpus", type=int, default=0,
                   help="fail unless this many GPUs can be used with mmcv's CUDA ops")
    d.set_defaults(func=_doctor)

    t = sub.add_parser("make-toyvis", help="write the embedded synthetic data set")
    from .data.toyvis import add_toyvis_arguments
    add_toyvis_arguments(t)
    t.set_defaults(func=_make_toyvis)

    e = sub.add_parser("evaluate", help="YouTube-VIS metrics + temporal stability")
    e.add_argument("--gt", required=True)
    e.add_argument("--results", required=True)
    e.add_argument("--out")
    e.set_defaults(func=_evaluate)

    from .training import add_train_arguments
    tr = sub.add_parser("train", help="train a model (CPU, or N GPUs via torchrun)")
    add_train_arguments(tr)
    tr.set_defaults(func=_train)

    from .inference import add_test_arguments
    te = sub.add_parser("test", help="online inference over a split → YouTube-VIS results")
    add_test_arguments(te)
    te.set_defaults(func=_test)

    from .oracle import add_oracle_arguments
    o = sub.add_parser("oracle", help="Table 1: the oracle study")
    add_oracle_arguments(o)
    o.set_defaults(func=_oracle)
    from .data.prepare import add_prepare_arguments
    pr = sub.add_parser("prepare", help="real YouTube-VIS 2019/2021 or OVIS: check the layout, "
                        "write the train_sub / minival (and valid) splits")
    add_prepare_arguments(pr)
    pr.set_defaults(func=_prepare)

    from .book import add_book_arguments
    bk = sub.add_parser("book", help="the book: run the chapters, rewrite the README block, "
                        "regenerate the smoke notebooks, train the branch variants")
    add_book_arguments(bk)
    bk.set_defaults(func=_book)

    from .demo import add_demo_arguments
    dm = sub.add_parser("demo", help="a trained model on your own video (file or frames) → "
                        "overlay video + per-frame tracks JSON")
    add_demo_arguments(dm)
    dm.set_defaults(func=_demo)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ObjPropError as exc:
        print(f"objprop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
