"""`nfcore`: the command line. Each stage of the flow is a command; `sim` chains them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from forest.errors import ForestError
from nfcore.config import NFCoreConfig, default_config_path
from nfcore.errors import NFCoreError

Handler = Callable[[argparse.Namespace], int]


def _config(args: argparse.Namespace) -> NFCoreConfig:
    return NFCoreConfig.load(args.config)


def cmd_verilog(args: argparse.Namespace) -> int:
    cfg = _config(args)
    from nfcore.hdl.verilog import emit_core

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(emit_core(cfg, name=args.name))
    print(f"wrote {out}")
    return 0


def cmd_isa_doc(args: argparse.Namespace) -> int:
    from nfcore.isa import render_markdown

    out = Path(args.output)
    out.write_text(render_markdown())
    print(f"wrote {out}")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from nfcore.pipeline import SimOptions, run_sim

    options = SimOptions(
        dataset=args.dataset,
        hidden=tuple(args.hidden),
        requests=args.requests,
        rtl_samples=args.rtl_samples,
        reports_root=Path(args.reports),
        seed=args.seed,
        quiet=args.quiet,
    )
    cfg = _config(args)
    run_dir = run_sim(cfg, options)
    print(f"report: {run_dir / 'report.md'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from forest.command import run_train, summary_table

    kinds = tuple(k.strip() for k in args.kinds.split(",")) if args.kinds else None
    result = run_train(args.dataset, args.output, trees=args.trees, top_k=args.top_k,
                       kinds=kinds, tree_size=args.tree_size, epochs=args.epochs,
                       tasks=args.tasks, seed=args.seed, monolith=not args.no_monolith,
                       threads=args.threads, quiet=args.quiet)
    print(summary_table(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nfcore",
        description=(
            "NF-Core: cycle-level simulator and RTL generator for a Neural Forest inference "
            "accelerator. Every command reads the hardware from one YAML config."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", default=str(default_config_path()),
                       help="hardware config YAML (default: configs/default.yaml)")
        p.set_defaults(handler=handler)
        return p

    p = add("verilog", cmd_verilog, "write Verilog for one micro-core of the config")
    p.add_argument("-o", "--output", default="build/nfcore_core.v", help="output .v file")
    p.add_argument("--name", default="nfcore_core", help="top module name")

    p = add("isa-doc", cmd_isa_doc, "render docs/isa.md from the ISA module")
    p.add_argument("-o", "--output", default="docs/isa.md")

    p = add("sim", cmd_sim,
            "train a tree, compile it, run it on the golden model, the SimPy model and the "
            "RTL, and write reports/<run>/ (what `make sim` runs)")
    p.add_argument("--dataset", default="digits",
                   help="offline dataset: digits, wine, breast_cancer, iris")
    p.add_argument("--hidden", type=int, nargs="+", default=[32],
                   help="hidden layer widths of the MLP tree")
    p.add_argument("--requests", type=int, default=300,
                   help="test inputs run through the golden and SimPy models")
    p.add_argument("--rtl-samples", type=int, default=20,
                   help="of those, how many also run on the RTL under Verilator (0: skip)")
    p.add_argument("--reports", default="reports", help="reports root folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = add("train", cmd_train,
            "train a Neural Forest (trees, router, shared stem) and its size-matched monolith, "
            "save it to a folder (manifest.json + weights.safetensors) and print a summary")
    p.add_argument("--dataset", required=True,
                   help="digits, wine, breast_cancer, iris, sequence or multitask")
    p.add_argument("--trees", type=int, default=None, help="number of trees (default: per "
                   "dataset; multitask: one per task)")
    p.add_argument("--top-k", type=int, default=None, help="trees evaluated per request")
    p.add_argument("--kinds", default=None, help="comma-separated tree kinds: mlp,cnn,rnn")
    p.add_argument("--tree-size", type=int, default=None,
                   help="mlp hidden width, cnn channels or rnn hidden units")
    p.add_argument("--epochs", type=int, default=None, help="passes over each tree's region")
    p.add_argument("--tasks", type=int, default=16, help="tasks of the multitask dataset")
    p.add_argument("--no-monolith", action="store_true", help="skip the monolith baseline")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="output folder, e.g. forests/digits")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (NFCoreError, ForestError) as exc:
        print(f"nfcore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nfcore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
