"""``python -m hashlib_core.grid run|list|collect``: the grid runner's command line.

    python -m hashlib_core.grid run --profile smoke [--method dchn] [--jobs 2] [--ray local|auto|ADDRESS]
        [--ray-gpus 1] [--force] [--device cuda]
    python -m hashlib_core.grid list --profile smoke
    python -m hashlib_core.grid collect RUN_DIR... --into records/ [--label L] [--notebook N]
"""

from __future__ import annotations

import argparse
import sys

from ..records.run import PROFILES
from ..records.runs import repo_root
from .collect import commit_records
from . import runner
from .runner import GridBusy, GridInterrupted, grid_specs, is_up_to_date, plan_runs, run_grid, summarise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashlib_core.grid", description=runner.__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or skip when up to date) the grid of a profile")
    lst = sub.add_parser("list", help="list the planned runs of a profile and whether each is up to date")
    for p in (run, lst):
        p.add_argument("--profile", default="default", choices=list(PROFILES))
        p.add_argument("--method", action="append", default=None, help="only this method (repeatable)")
        p.add_argument("--runs-root", default=None, help="default: <repo>/runs")
    run.add_argument("--jobs", type=int, default=1)
    run.add_argument("--ray", default=None, metavar="ADDRESS", help="'local' or a Ray cluster address")
    run.add_argument("--ray-gpus", type=float, default=None, help="GPUs each Ray task reserves (e.g. 1)")
    run.add_argument("--force", action="store_true", help="re-run up-to-date runs too")
    run.add_argument("--device", default=None, help="inject device=... into every notebook (default: 'auto')")
    run.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                     help="while another grid writes the same runs folder: give up after SECONDS (default: wait)")
    collect = sub.add_parser("collect", help="copy finished runs' JSON records into records/ (to commit them)")
    collect.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    collect.add_argument("--into", default=str(repo_root() / "records"))
    collect.add_argument("--notebook", default=None)
    collect.add_argument("--label", default=None)
    collect.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "collect":
        for dest in commit_records(args.run_dirs, args.into, notebook=args.notebook, label=args.label,
                                   overwrite=args.overwrite):
            print(f"committed record {dest}")
        return 0
    specs = grid_specs(args.profile, args.method)
    if args.command == "list":
        for task in plan_runs(args.profile, specs, runs_root=args.runs_root):
            state = "up to date" if is_up_to_date(task) else (task.plan_error or "to run")
            print(f"{task.run_dir}  [{state}]")
        return 0
    ray_options = {"num_gpus": args.ray_gpus} if args.ray_gpus else None
    try:
        outcomes = run_grid(args.profile, specs, runs_root=args.runs_root, jobs=args.jobs, ray_address=args.ray,
                            ray_options=ray_options, force=args.force, device=args.device,
                            lock_timeout=args.lock_timeout)
    except GridInterrupted:
        return 130  # run_grid has said how to resume
    except GridBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summarise(outcomes))
    return 1 if any(o.status == "failed" for o in outcomes) else 0
