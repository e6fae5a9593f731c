"""``edge-vitals warmup``: compile the numba kernels once and cache them on disk.

Run once after installing (and in the service's ``ExecStartPre``) so that a boot loads
the cache instead of compiling; it also builds the ahead-of-time kernels (`edge.aot`).
Numba picks its cache directory when `edge` is imported, so ``--cache-dir`` runs the
warm-up in a fresh interpreter with ``NUMBA_CACHE_DIR`` set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

__all__ = ["HELP", "add_arguments", "compile_ahead", "main", "warm_all"]

HELP = "compile and cache the numba kernels (first boot is not slow)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals warmup``."""
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="kernel cache directory: numba's cache and the compiled kernels "
                        "(sets NUMBA_CACHE_DIR; default: numba's own choice, or "
                        "$NUMBA_CACHE_DIR). Use the same one for the service.")
    parser.add_argument("--no-aot", action="store_true",
                        help="only warm numba's cache; do not compile the kernels ahead of time")


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


def compile_ahead() -> str:
    """Build the ahead-of-time kernels unless they are there; one line saying what happened.

    A failed build is not an error: the JIT kernels work, with ~115 MB more memory.
    """
    from edge import aot, kernels

    if kernels.BACKEND == "aot":
        return "kernels: compiled ahead of time (already built)"
    if aot.kernel_mode() != "auto":
        return f"kernels: numba JIT ({aot.KERNELS_ENV} or NUMBA_DISABLE_JIT asks for it)"
    started = time.perf_counter()
    try:
        path = aot.build()
    except Exception as exc:  # compilers and linkers fail in many ways
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        return (f"kernels: numba JIT; the ahead-of-time build failed ({type(exc).__name__}: "
                f"{reason}); it needs a C/C++ compiler and the Python headers "
                "(Debian / Pi OS: apt install g++ python3-dev)")
    return (f"kernels: compiled ahead of time in {time.perf_counter() - started:.1f} s to "
            f"{path}; runs load it instead of numba")


def main(args: argparse.Namespace) -> int:
    """Warm up in this process, or in a child with ``NUMBA_CACHE_DIR`` set."""
    if args.cache_dir:
        from edge.cli.options import check_output_dir

        cache_dir = check_output_dir(args.cache_dir, flag="--cache-dir").resolve()
        if os.environ.get("NUMBA_CACHE_DIR") != str(cache_dir):
            cache_dir.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
            argv = [sys.executable, "-m", "edge", "warmup"] + (["--no-aot"] if args.no_aot else [])
            return subprocess.run(argv, env=env, check=False).returncode
    started = time.perf_counter()
    methods, skipped = warm_all()
    where = os.environ.get("NUMBA_CACHE_DIR") or "numba's default (__pycache__ or ~/.cache)"
    for method, reason in skipped.items():
        print(f"edge-vitals: warmup: method {method} not warmed: {reason}", file=sys.stderr)
    print(f"edge-vitals: warmed {len(methods)} methods ({', '.join(methods)}) in "
          f"{time.perf_counter() - started:.1f} s; numba cache: {where}", file=sys.stderr)
    if not args.no_aot:
        print(f"edge-vitals: warmup: {compile_ahead()}", file=sys.stderr)
    return 0 if methods else 1
