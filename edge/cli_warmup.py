"""``edge-vitals warmup``: compile the numba kernels once and cache them on disk.

On a Pi a cold start compiles every kernel (tens of seconds on a Pi Zero 2 W). Run this
once after installing (and in the service's ``ExecStartPre``) so that boots load the cache.

Numba chooses its cache directory when the kernels are defined, that is when `edge` is
imported; ``--cache-dir`` therefore runs the warm-up in a fresh interpreter with
``NUMBA_CACHE_DIR`` set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["add_arguments", "main", "warm_all"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals warmup``."""
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="numba cache directory (sets NUMBA_CACHE_DIR; default: numba's own "
                        "choice, or $NUMBA_CACHE_DIR). Use the same one for the service.")


def warm_all() -> tuple[list[str], dict[str, str]]:
    """Warm a pipeline per rPPG method (and the Kalman tracker).

    Returns the methods warmed, and those that could not be (a model file missing, an
    optional backend not installed) with the reason.
    """
    from edge.config import METHOD_NAMES, PipelineConfig
    from edge.errors import VitalsError
    from edge.pipeline import Pipeline

    warmed, skipped = [], {}
    for method in METHOD_NAMES:
        try:
            Pipeline(PipelineConfig().with_changes(rppg={"method": method})).warmup()
        except VitalsError as exc:
            skipped[method] = str(exc)
        else:
            warmed.append(method)
    Pipeline(PipelineConfig().with_changes(kalman={"enabled": True})).warmup()
    return warmed, skipped


def main(args: argparse.Namespace) -> int:
    """Warm up in this process, or in a child with ``NUMBA_CACHE_DIR`` set."""
    if args.cache_dir:
        cache_dir = Path(args.cache_dir).expanduser().resolve()
        if os.environ.get("NUMBA_CACHE_DIR") != str(cache_dir):
            cache_dir.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
            argv = [sys.executable, "-m", "edge", "warmup"]
            return subprocess.run(argv, env=env, check=False).returncode
    started = time.perf_counter()
    methods, skipped = warm_all()
    where = os.environ.get("NUMBA_CACHE_DIR") or "numba's default (__pycache__ or ~/.cache)"
    for method, reason in skipped.items():
        print(f"edge-vitals: warmup: method {method} not warmed: {reason}", file=sys.stderr)
    print(f"edge-vitals: warmed {len(methods)} methods ({', '.join(methods)}) in "
          f"{time.perf_counter() - started:.1f} s; numba cache: {where}", file=sys.stderr)
    return 0 if methods else 1
