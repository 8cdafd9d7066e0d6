"""Command line: the same code paths as the notebooks, for machines without a Jupyter stack.

``python -m hashlib_core run dchn --dataset wikipedia --bits 32 --profile paper --out-dir runs/x --param alpha=0.02``
calls ``hashlib_core.methods.dchn.run(...)`` exactly as ``notebooks/dchn.ipynb`` does and writes the same record.
``python -m hashlib_core book --profile smoke`` runs the grid of a profile and builds the book (what ``make book``
calls).
"""

from __future__ import annotations

import argparse
import json
import sys


def _parse_param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected NAME=VALUE")
    name, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string such as a view name
    return name.strip(), value


def _run(args: argparse.Namespace) -> int:
    import time

    from .methods import get_method
    from .records.manifest import write_manifest

    method = get_method(args.method)
    params = dict(args.param or [])
    unknown = sorted(set(params) - set(method.PARAMETERS))
    if unknown:
        raise SystemExit(f"--param: {args.method} has no parameter(s) {unknown}; "
                         f"known: {sorted(method.PARAMETERS)}")
    started = time.perf_counter()
    result = method.run(dataset=args.dataset, bits=args.bits, seed=args.seed, epochs=args.epochs,
                        device=args.device, data_root=args.data_root, out_dir=args.out_dir,
                        profile=args.profile, **params)
    # the manifest is written here, on the machine that ran the run (package versions, platform, wall time)
    write_manifest(result.out_dir, made_by="cli", wall_seconds=round(time.perf_counter() - started, 2))
    print(result.map_table().to_string(index=False))
    print(f"wrote {result.out_dir}/metrics.json and manifest.json")
    return 0


def _book(args: argparse.Namespace) -> int:
    from .records.book import build_book

    return build_book(profile=args.profile, out=args.out, jobs=args.jobs, ray_address=args.ray)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hashlib_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train and evaluate one method once (same code as its notebook)")
    run.add_argument("method", help="dchn | djsrh | hybridhash")
    run.add_argument("--dataset", required=True)
    run.add_argument("--bits", type=int, required=True)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--epochs", type=int, default=None, help="default: the profile's (paper) setting")
    run.add_argument("--device", default="auto")
    run.add_argument("--data-root", default=None, help="default: $HASHLIB_DATA, else ./data")
    run.add_argument("--out-dir", required=True)
    run.add_argument("--profile", default="default", choices=["smoke", "default", "paper"])
    run.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE",
                     help="a method parameter (JSON value), repeatable")
    run.set_defaults(func=_run)

    book = sub.add_parser("book", help="run a profile's notebooks and build the Jupyter Book")
    book.add_argument("--profile", default="default", choices=["smoke", "default", "paper"])
    book.add_argument("--out", default="_build", help="output folder (the HTML lands in OUT/html)")
    book.add_argument("--jobs", type=int, default=1, help="notebooks run at once (local processes)")
    book.add_argument("--ray", default=None, metavar="ADDRESS",
                      help="hand runs to Ray: 'local' for ray.init() here, or a cluster address")
    book.set_defaults(func=_book)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
