"""Command line: the same code paths as the notebooks, for machines without a Jupyter stack.

``python -m hashlib_core run dchn --dataset wikipedia --bits 32 --profile paper --out-dir runs/x --param alpha=0.02``
calls ``hashlib_core.methods.dchn.run(...)`` exactly as ``notebooks/dchn.ipynb`` does and writes the same record;
``python -m hashlib_core run dchn --help`` lists the method's parameters with their defaults.
``python -m hashlib_core book --profile smoke`` runs the grid of a profile and builds the book (what ``make book``
calls). ``python -m hashlib_core matrix --profile P --out matrix.csv [--root DIR]`` re-scores every finished run's
codes under every evaluation (:mod:`hashlib_core.report.matrix`).

Exit status: 0 on success; 2 with one line ``error: ...`` on stderr for a problem with the user's input (a bad
argument, or a ``ValueError`` / ``DatasetError`` raised by the library, whose message names the argument or file);
any other exception is a bug and shows its full traceback (``--traceback`` shows it for input errors too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap

#: exit status of a command stopped by a problem with the user's input (argparse's convention)
INPUT_ERROR_STATUS = 2


class UsageError(Exception):
    """A command line that argparse rejects (unknown option, missing or malformed argument)."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are raised (and printed by :func:`main` as one ``error:`` line) instead
    of printing the usage block and exiting."""

    def error(self, message: str):  # noqa: D102 (argparse's hook)
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _MethodParser(_Parser):
    """The parser of ``run METHOD``: its help ends with the method's parameters, read from the method module
    (``PARAMETERS`` and ``PARAMETER_HELP``) only when the help is asked for."""

    method_name: str | None = None

    def format_help(self) -> str:
        if self.method_name is not None and self.epilog is None:
            from .methods import get_method

            self.epilog = method_parameters_help(get_method(self.method_name))
        return super().format_help()


def _json_text(value) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def method_parameters_help(module, width: int | None = None) -> str:
    """The "method parameters" block of ``run METHOD --help``: one entry per key of ``module.PARAMETERS``, its
    default written as the JSON that ``--param NAME=VALUE`` reads, and its line from ``module.PARAMETER_HELP``."""
    width = width or max(60, min(120, shutil.get_terminal_size((100, 24)).columns - 2))
    descriptions = getattr(module, "PARAMETER_HELP", {})
    name = module.METHOD
    lines = [f"method parameters of {name} (pass as --param NAME=VALUE; VALUE is read as JSON, a bare word as a "
             f"string; the profile's setting applies where the default is null):"]
    lines = textwrap.wrap(lines[0], width, break_on_hyphens=False)
    column = 2 + max((len(key) for key in module.PARAMETERS), default=0) + 2
    for key, default in module.PARAMETERS.items():
        text = f"{descriptions.get(key, '(no description)')} [default: {_json_text(default)}]"
        body = textwrap.wrap(text, max(30, width - column), break_on_hyphens=False, break_long_words=False)
        lines.append(f"  {key:<{column - 4}}  {body[0]}")
        lines.extend(" " * column + rest for rest in body[1:])
    return "\n".join(lines)


def _parse_param(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, value): VALUE as JSON (``0.02``, ``null``, ``["fou", "kar"]``), Python's
    ``None``/``True``/``False`` as their JSON spellings, anything else as a bare string (a view name)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected NAME=VALUE")
    name, raw = text.split("=", 1)
    if not name.strip():
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected NAME=VALUE (the name is empty)")
    raw = {"None": "null", "True": "true", "False": "false"}.get(raw.strip(), raw)
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
        raise ValueError(f"--param: {args.method} has no parameter(s) {unknown}; known: {sorted(method.PARAMETERS)} "
                         f"(python -m hashlib_core run {args.method} --help)")
    if args.force:
        params["force"] = True  # replace a finished run folder in --out-dir (the method's run() checks)
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
    from .book import build_book

    return build_book(profile=args.profile, out=args.out, jobs=args.jobs, ray_address=args.ray,
                      repository_url=args.repository_url)


def _matrix_roots(paths: list[str] | None) -> dict[str, list[str]] | None:
    """``--root`` folders as ``load_runs`` roots: a folder holding ``runs/`` and/or ``records/`` (an unzipped
    download, a checkout) gives fresh runs and committed records; any other folder counts as fresh runs, or as
    committed records when it is named ``records``. ``None`` (no ``--root``): this checkout's."""
    if not paths:
        return None
    missing = [path for path in paths if not os.path.isdir(path)]
    if missing:
        raise ValueError(f"--root: no such folder(s) {missing}")
    roots: dict[str, list[str]] = {"fresh": [], "committed": []}
    for path in paths:
        inside = {name: os.path.join(path, name) for name in ("runs", "records")
                  if os.path.isdir(os.path.join(path, name))}
        if inside:
            roots["fresh"] += [inside["runs"]] if "runs" in inside else []
            roots["committed"] += [inside["records"]] if "records" in inside else []
        else:
            roots["committed" if os.path.basename(os.path.normpath(path)) == "records" else "fresh"].append(path)
    return roots


def _matrix(args: argparse.Namespace) -> int:
    from .report.matrix import build_matrix, write_matrix

    matrix = build_matrix(args.profile, roots=_matrix_roots(args.root), progress=not args.quiet)
    path = write_matrix(matrix, args.out)
    runs = matrix.frame["run_dir"].nunique() if len(matrix.frame) else 0
    print(f"wrote {path}: {len(matrix.frame)} rows from {runs} run(s) of the {args.profile!r} profile")
    for row in matrix.skipped.itertuples(index=False):
        print(f"skipped {row.run_dir}: {row.reason}")
    return 0


def _method_names() -> tuple[str, ...]:
    from .methods import METHODS  # a light import: the method modules themselves load only when used

    return tuple(METHODS)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m hashlib_core`` parser (``run METHOD ...`` and ``book ...``)."""
    parser = _Parser(prog="python -m hashlib_core", description=__doc__.splitlines()[0])
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback for input errors too (for debugging)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    methods = _method_names()
    run = sub.add_parser("run", help="train and evaluate one method once (same code as its notebook)",
                         description="Train and evaluate one method once and write its run folder (the same "
                                     "run() as the method's notebook). 'run METHOD --help' lists the method's "
                                     "parameters.")
    run_options = _Parser(add_help=False)
    run_options.add_argument("--dataset", required=True, help="registry name, e.g. wikipedia, mfeat, cifar10")
    run_options.add_argument("--bits", type=int, required=True, help="code length")
    run_options.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    run_options.add_argument("--epochs", type=int, default=None, help="default: the profile's (paper) setting")
    run_options.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    run_options.add_argument("--data-root", default=None, help="default: $HASHLIB_DATA, else ./data")
    run_options.add_argument("--out-dir", required=True, help="run folder to write")
    run_options.add_argument("--profile", default="default", choices=["smoke", "default", "paper"],
                             help="smoke | default | paper (default: default)")
    run_options.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE",
                             help="a method parameter (JSON value), repeatable; see the list below")
    run_options.add_argument("--force", action="store_true",
                             help="replace a finished run already in --out-dir (refused without it)")
    per_method = run.add_subparsers(dest="method", required=True, metavar="METHOD", parser_class=_MethodParser,
                                    help=" | ".join(methods))
    for name in methods:
        method_parser = per_method.add_parser(
            name, parents=[run_options], formatter_class=argparse.RawDescriptionHelpFormatter,
            description=f"Train and evaluate {name} once and write its run folder "
                        f"(hashlib_core.methods.{name}.run, the same as notebooks/{name}.ipynb).")
        method_parser.method_name = name
    run.set_defaults(func=_run)

    book = sub.add_parser("book", help="run a profile's notebooks and build the Jupyter Book")
    book.add_argument("--profile", default="default", choices=["smoke", "default", "paper"])
    book.add_argument("--out", default="_build", help="output folder (the HTML lands in OUT/html)")
    book.add_argument("--jobs", type=int, default=1, help="notebooks run at once (local processes)")
    book.add_argument("--ray", default=None, metavar="ADDRESS",
                      help="hand runs to Ray: 'local' for ray.init() here, or a cluster address")
    book.add_argument("--repository-url", default=None, metavar="URL",
                      help="add launch buttons and source links for this repository (https://github.com/ORG/REPO; "
                           "default: $HASHBOOK_REPOSITORY_URL; none: the book links nowhere outside itself)")
    book.set_defaults(func=_book)

    matrix = sub.add_parser("matrix", help="re-score every finished run's codes under every evaluation (CSV)",
                            description="One row per (finished run, direction, evaluation), re-scored from each "
                                        "run's codes.npz without retraining.")
    matrix.add_argument("--profile", required=True, help="the runs' profile (smoke | default | paper)")
    matrix.add_argument("--out", required=True, help="CSV file to write")
    matrix.add_argument("--root", action="append", default=None, metavar="DIR",
                        help="a folder holding runs/ and records/ (an unzipped download), or a folder of run "
                             "folders (repeatable; default: runs/ and records/ of this checkout)")
    matrix.add_argument("--quiet", action="store_true", help="no progress bar")
    matrix.set_defaults(func=_matrix)
    return parser


def _input_error_types() -> tuple[type[BaseException], ...]:
    from .data import DatasetError  # a ValueError subclass; named for the reader

    return (UsageError, DatasetError, ValueError)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status (see the module doc)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    show_traceback = "--traceback" in argv
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except _input_error_types() as exc:
        if show_traceback:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return INPUT_ERROR_STATUS


if __name__ == "__main__":
    sys.exit(main())
