"""The kernels compiled ahead of time (`edge.aot`) against the same numpy references as the
JIT ones, and a run with them that never imports numba.

Each check runs in a child interpreter, because `edge.kernels` binds its backend at import.
The compiled module is built once, into a temporary kernel cache (``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KERNEL_TESTS = ["tests/test_edge_kernels.py", "tests/test_edge_kalman.py",
                "tests/test_edge_filters.py"]

pytestmark = [
    pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                       reason="numba cannot compile ahead of time with the JIT disabled"),
    pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                       reason="no C/C++ compiler: the ahead-of-time build needs one"),
]


def _env(cache_dir: Path, mode: str) -> dict[str, str]:
    return {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "EDGE_VITALS_KERNELS": mode,
            "PYTHONPATH": str(REPO)}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def kernel_cache(tmp_path_factory) -> Path:
    """A kernel cache holding a freshly compiled module (built by the JIT kernels)."""
    cache_dir = tmp_path_factory.mktemp("kernel-cache")
    stale = cache_dir / ("_edge_kernels_0123456789abcdef" + EXTENSION_SUFFIXES[0])
    stale.write_bytes(b"built from an older kernels.py")
    done = _python("from edge import aot; print(aot.build())", _env(cache_dir, "jit"))
    assert done.returncode == 0, done.stderr[-3000:]
    built = Path(done.stdout.strip().splitlines()[-1])
    assert built.parent == cache_dir and built.is_file()
    assert not stale.exists()
    return cache_dir


@pytest.mark.parametrize("mode, backend", [("auto", "aot"), ("jit", "jit")])
def test_kernels_of_each_backend_pass_the_numpy_reference_tests(kernel_cache, mode, backend):
    code = ("import sys, pytest\n"
            "from edge import kernels\n"
            f"assert kernels.BACKEND == {backend!r}, kernels.BACKEND\n"
            f"sys.exit(pytest.main(['-o', 'addopts=', '-q', '-p', 'no:cacheprovider',"
            f" *{KERNEL_TESTS!r}]))\n")
    done = _python(code, _env(kernel_cache, mode))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert " passed" in done.stdout and " failed" not in done.stdout


def test_a_run_on_compiled_kernels_never_imports_numba(kernel_cache):
    code = ("import sys\n"
            "sys.path.insert(0, 'tests')\n"
            "import numpy as np, edge\n"
            "from edge import kernels\n"
            "from synthetic import make_skin_clip\n"
            "frames, times_s, _ = make_skin_clip(hr_bpm=84.0, seconds=20.0, seed=3)\n"
            "config = edge.PipelineConfig().with_changes(roi={'mode': 'full'})\n"
            "track = edge.process_video(list(frames), config=config, fps=30.0)\n"
            "print(kernels.BACKEND, 'numba' in sys.modules,"
            " np.nanmedian(track.heart_rate_bpm))\n")
    done = _python(code, _env(kernel_cache, "auto"))
    assert done.returncode == 0, done.stderr[-3000:]
    backend, numba_loaded, hr_bpm = done.stdout.split()[-3:]
    assert backend == "aot"
    assert numba_loaded == "False"
    assert abs(float(hr_bpm) - 84.0) < 1.5


def test_a_stale_or_missing_module_means_the_jit(tmp_path):
    """A cache without a module built from this kernels.py: the JIT, no error."""
    (tmp_path / "_edge_kernels_0000000000000000.so").write_bytes(b"not a module")
    done = _python("from edge import kernels; print(kernels.BACKEND)", _env(tmp_path, "auto"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "jit"


def test_an_unknown_kernel_mode_warns_and_counts_as_auto(tmp_path):
    done = _python("from edge import kernels; print(kernels.BACKEND)", _env(tmp_path, "fast"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "EDGE_VITALS_KERNELS must be one of auto, jit; got 'fast'" in done.stderr
