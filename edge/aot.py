"""Ahead-of-time compiled kernels: `edge.kernels` as a plain C extension, no numba at run time.

Why: importing numba maps its LLVM, which is most of a run's memory and of its start-up time
(figures: the simulator's README, "Speed and memory"). So ``edge-vitals warmup`` also
compiles the kernels once with ``numba.pycc`` (it needs a C and C++ compiler and the Python
headers: ``apt install g++ python3-dev`` on Pi OS) into an extension module named after a
digest of ``edge/kernels.py``. When `edge.kernels` is imported it loads that module if one
built from the same source is in the kernel cache, and numba is never imported; otherwise it
compiles with numba's JIT as before.

``EDGE_VITALS_KERNELS=jit`` (or ``NUMBA_DISABLE_JIT=1``) asks for the JIT kernels even
when a compiled module is there; `edge.kernels.BACKEND` says which are in use. The kernel
cache is ``NUMBA_CACHE_DIR`` when set (the service sets it), else the package's
``__pycache__`` when writable, else ``~/.cache/edge-vitals``.

``numba.pycc`` is deprecated upstream but still ships (numba 0.68); if it goes, the JIT
path is unchanged. Tests: ``tests/test_edge_aot.py`` runs the kernels' numpy-reference
tests against both.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

__all__ = ["KERNELS_ENV", "build", "cache_dirs", "kernel_mode", "load", "module_name"]

KERNELS_ENV = "EDGE_VITALS_KERNELS"
KERNEL_MODES = ("auto", "jit")
_PACKAGE_DIR = Path(__file__).resolve().parent


def kernel_mode() -> str:
    """``jit`` (numba only) or ``auto`` (the compiled module when there is one).

    Read at import, where an exception would be a traceback: an unknown value warns and
    counts as ``auto``.
    """
    mode = os.environ.get(KERNELS_ENV, "auto").strip().lower() or "auto"
    if mode not in KERNEL_MODES:
        warnings.warn(f"{KERNELS_ENV} must be one of {', '.join(KERNEL_MODES)}; got {mode!r}, "
                      "using auto", RuntimeWarning, stacklevel=2)
        mode = "auto"
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return "jit"
    return mode


def module_name(source: bytes) -> str:
    """Extension module name for kernels compiled from ``source`` on this kind of machine.

    The file's suffix names the Python ABI; the digest covers the source, the CPU family and
    numpy's major version (the module is built against its C API).
    """
    import numpy as np

    stamp = f"{platform.machine()} numpy {np.__version__.split('.')[0]}".encode()
    digest = hashlib.sha256(source + stamp).hexdigest()[:16]
    return f"_edge_kernels_{digest}"


def cache_dirs() -> list[Path]:
    """Where compiled kernels are looked for, in order; `build` writes to the first usable."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return [Path(os.environ["NUMBA_CACHE_DIR"]).expanduser()]
    home_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [_PACKAGE_DIR / "__pycache__", home_cache / "edge-vitals"]


def _file_name(name: str) -> str:
    return name + importlib.machinery.EXTENSION_SUFFIXES[0]


def load(source: bytes) -> ModuleType | None:
    """The compiled kernels built from ``source``, or None when there are none in the cache."""
    name = module_name(source)
    for directory in cache_dirs():
        path = directory / _file_name(name)
        if path.is_file():
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


def _writable_dir() -> Path:
    for directory in cache_dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return directory
    raise OSError(f"no writable kernel cache directory among {[str(d) for d in cache_dirs()]}")


def build(out_dir: Path | None = None) -> Path:
    """Compile every kernel of `edge.kernels` into one extension module; its path.

    Needs numba's JIT in this process (the kernels' Python functions and signatures) and a
    C/C++ compiler. The file is written whole (temporary directory, then renamed), so a running
    process never loads a half-written module; modules built from older sources in the same
    directory are removed.
    """
    from numba.core.errors import NumbaPendingDeprecationWarning
    from numba.pycc import CC

    from edge import kernels

    if kernels.BACKEND != "jit":
        raise RuntimeError("build() needs the JIT kernels; run it with EDGE_VITALS_KERNELS=jit")
    out_dir = Path(out_dir) if out_dir is not None else _writable_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = module_name(kernels.SOURCE)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        cc = CC(name)
        cc.output_dir = tmp
        cc.verbose = False
        for kernel_name, signature in kernels.SIGNATURES.items():
            cc.export(kernel_name, signature)(getattr(kernels, kernel_name).py_func)
        cc.compile()
        built = Path(tmp) / _file_name(name)
        target = out_dir / built.name
        shutil.move(str(built), target.with_suffix(".partial"))
        os.replace(target.with_suffix(".partial"), target)
    for stale in out_dir.glob(_file_name("_edge_kernels_*")):  # built from older sources
        if stale != target:
            stale.unlink(missing_ok=True)
    return target
