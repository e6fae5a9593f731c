"""Run peer rPPG packages on a video, each in its own venv, and report frames/s.

The design target compares our end-to-end file processing with two peers on the same clip in the
same run. Each peer is installed into ``ROOT/<name>/`` (never into our venv) and driven by a small
runner script next to this module (``_peer_<name>.py``), executed by the peer venv's python. The
runner times the peer's whole processing of the file (decode included, model load excluded and
reported as ``load_seconds``) and prints one JSON line that :func:`parse_runner_output` reads.

Runs are pinned to one core (``taskset -c 0``) with the usual thread variables set to 1, so the
comparison is one core against one core.

Usage::

    python -m firmware_sim.bench.peers VIDEO [--root .bench/venvs] [--peers vitallens,open-rppg]

A peer that cannot be installed or run gives a result with ``error`` set; the command never crashes.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PEERS",
    "PeerError",
    "PeerResult",
    "PeerSpec",
    "ensure_peer_venv",
    "format_table",
    "main",
    "parse_runner_output",
    "run_peer",
    "venv_python",
]

RESULT_SCHEMA = "edge-vitals.peer-run/1"
"""Value of the ``schema`` key in a runner's JSON line."""

MARKER_NAME = ".edge-vitals-peer.json"
"""File in a peer venv recording what was installed; its presence makes installs idempotent."""

PIP_BOOTSTRAP = ("pip>=24",)
"""Installed first: the pip bundled with Python 3.11 (23.x) ignores extras spelled with '_'
(vitallens asks for ``prpy[ffmpeg,numpy_min]``) and so silently misses scipy."""

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "OPENCV_FOR_THREADS_NUM": "1",
    "PYTHONUNBUFFERED": "1",
}
"""Environment given to every runner, on top of the parent's (minus PYTHONPATH and VIRTUAL_ENV)."""

_HERE = Path(__file__).resolve().parent
_STDERR_TAIL_LINES = 12


class PeerError(RuntimeError):
    """A peer could not be installed, run, or its output could not be read."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerSpec:
    """How to install and drive one peer package.

    ``runner`` is a file name next to this module (or an absolute path); it is run as
    ``<venv python> -I <runner> VIDEO *runner_args`` and must print one JSON result line.
    """

    package: str
    requirements: tuple[str, ...]
    runner: str
    runner_args: tuple[str, ...] = ()
    apt_packages: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    notes: str = ""

    @property
    def runner_path(self) -> Path:
        """Absolute path of the runner script."""
        return _HERE / self.runner


PEERS: dict[str, PeerSpec] = {
    "vitallens": PeerSpec(
        package="vitallens",
        requirements=("vitallens==0.6.2",),
        runner="_peer_vitallens.py",
        runner_args=("--method", "pos"),
        apt_packages=("ffmpeg",),
        binaries=("ffmpeg", "ffprobe"),
        notes="method pos runs locally without an API key; decodes through ffmpeg subprocesses",
    ),
    "open-rppg": PeerSpec(
        package="open-rppg",
        requirements=("open-rppg==0.1.1", "setuptools<81"),
        runner="_peer_openrppg.py",
        runner_args=("--model", "ME-flow.rlap"),
        env=(
            ("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"),
            ("JAX_PLATFORMS", "cpu"),
        ),
        notes="imports pkg_resources (setuptools<81); model load includes a JAX jit compile",
    ),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerResult:
    """One peer's run on one video. Numbers are ``None`` when the run failed (see ``error``)."""

    name: str
    frames: int | None = None
    seconds: float | None = None
    frames_per_s: float | None = None
    heart_rate_bpm: float | None = None
    peak_rss_mb: float | None = None
    error: str | None = None
    load_seconds: float | None = None
    cpu_seconds: float | None = None
    child_peak_rss_mb: float | None = None
    version: str | None = None
    model: str | None = None
    pinned_core: int | None = None
    install_seconds: float | None = None
    venv_mb: float | None = None

    @classmethod
    def failed(cls, name: str, error: str) -> PeerResult:
        """Result of a run that did not happen or did not finish."""
        return cls(name=name, error=error)

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.error is None

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)


def _spec(name: str) -> PeerSpec:
    try:
        return PEERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PEERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}{hint}") from None


def _log(name: str, message: str) -> None:
    print(f"[peers] {name}: {message}", file=sys.stderr, flush=True)


def venv_python(name: str, *, root: Path) -> Path:
    """Absolute path of the python executable of peer ``name``'s venv under ``root``.

    Made absolute but not resolved: resolving the venv's symlink would run the base interpreter.
    """
    return Path(os.path.abspath(root)) / name / "bin" / "python"


def _all_requirements(spec: PeerSpec) -> list[str]:
    return [*PIP_BOOTSTRAP, *spec.requirements]


def _read_marker(venv_dir: Path) -> dict[str, object] | None:
    try:
        data = json.loads((venv_dir / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _missing_binaries(spec: PeerSpec) -> list[str]:
    return [b for b in spec.binaries if shutil.which(b) is None]


def _tail(text: str, lines: int = _STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(
    cmd: list[str], *, env: dict[str, str], timeout_s: float, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=cwd, check=False
    )


def _run_step(name: str, cmd: list[str], *, timeout_s: float) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    _log(name, "$ " + " ".join(cmd))
    try:
        proc = _run(cmd, env=env, timeout_s=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"{cmd[0]} timed out after {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise PeerError(f"cannot run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise PeerError(
            f"exit {proc.returncode} from {' '.join(cmd[:4])} ...:\n"
            + _tail(proc.stdout + "\n" + proc.stderr)
        )


def dir_size_mb(path: Path) -> float:
    """Bytes of regular files under ``path`` (symlinks not followed), in MB."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                total += os.stat(p).st_size
    return total / 1e6


def ensure_peer_venv(name: str, *, root: Path, timeout_s: float = 1800.0) -> Path:
    """Create ``root/<name>/`` as a venv and pip-install the peer's requirements.

    Idempotent: when the venv's marker file lists the same requirements, nothing is run.
    Apt packages are not installed here; a missing binary raises :class:`PeerError` with the
    ``apt-get install`` line to run. Progress goes to stderr. Returns the venv directory.
    """
    spec = _spec(name)
    missing = _missing_binaries(spec)
    if missing:
        raise PeerError(
            f"{name} needs {', '.join(missing)} on PATH; "
            f"apt-get install {' '.join(spec.apt_packages)}"
        )
    venv_dir = Path(root) / name
    python = venv_python(name, root=root)
    reqs = _all_requirements(spec)
    marker = _read_marker(venv_dir)
    if python.exists() and marker is not None and marker.get("requirements") == reqs:
        _log(name, f"venv up to date at {venv_dir}")
        return venv_dir
    t0 = time.perf_counter()
    if not python.exists():
        _log(name, f"creating venv at {venv_dir}")
        venv_dir.parent.mkdir(parents=True, exist_ok=True)
        base = shutil.which("python3") or sys.executable
        _run_step(name, [base, "-m", "venv", str(venv_dir)], timeout_s=timeout_s)
    (venv_dir / MARKER_NAME).unlink(missing_ok=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    _run_step(name, [*pip, "--upgrade", *PIP_BOOTSTRAP], timeout_s=timeout_s)
    _log(name, f"installing {' '.join(spec.requirements)} (can take minutes)")
    _run_step(name, [*pip, *spec.requirements], timeout_s=timeout_s)
    install_s = time.perf_counter() - t0
    size_mb = dir_size_mb(venv_dir)
    info = {"requirements": reqs, "install_seconds": round(install_s, 1)}
    (venv_dir / MARKER_NAME).write_text(json.dumps({**info, "venv_mb": round(size_mb, 1)}))
    _log(name, f"installed in {install_s:.1f} s ({size_mb:.0f} MB)")
    return venv_dir


def _finite_or_none(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def parse_runner_output(name: str, stdout: str) -> PeerResult:
    """Build a :class:`PeerResult` from a runner's stdout.

    The last line that is a JSON object with ``"schema": RESULT_SCHEMA`` is used; other lines
    (a peer's own prints) are ignored. Raises :class:`PeerError` when there is no such line or
    it lacks ``frames`` / ``seconds``.
    """
    record = None
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("schema") == RESULT_SCHEMA:
            record = obj
            break
    if record is None:
        raise PeerError(f"no {RESULT_SCHEMA} JSON line in runner output: {_tail(stdout, 3)!r}")
    try:
        frames = int(record["frames"])
        seconds = float(record["seconds"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PeerError(f"runner JSON needs numeric 'frames' and 'seconds'; got {record}") from exc
    return PeerResult(
        name=name,
        frames=frames,
        seconds=seconds,
        frames_per_s=frames / seconds if seconds > 0 else None,
        heart_rate_bpm=_finite_or_none(record.get("heart_rate_bpm")),
        peak_rss_mb=_finite_or_none(record.get("peak_rss_mb")),
        load_seconds=_finite_or_none(record.get("load_seconds")),
        cpu_seconds=_finite_or_none(record.get("cpu_seconds")),
        child_peak_rss_mb=_finite_or_none(record.get("child_peak_rss_mb")),
        version=_str_or_none(record.get("version")),
        model=_str_or_none(record.get("model")),
    )


def _runner_env(spec: PeerSpec) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(SINGLE_THREAD_ENV)
    env.update(dict(spec.env))
    return env


def _pin_prefix(core: int | None) -> list[str]:
    if core is None:
        return []
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core)] if taskset else []


def run_peer(
    name: str,
    video_path: str | os.PathLike[str],
    *,
    root: Path,
    core: int | None = 0,
    timeout_s: float = 1800.0,
) -> PeerResult:
    """Run peer ``name`` on ``video_path`` in its venv under ``root``; run failures do not raise.

    The runner subprocess is pinned to ``core`` with ``taskset`` when available (``None``: no
    pinning) and gets one-thread settings for BLAS/OpenMP/XLA. Failures (no venv, missing binary,
    non-zero exit, timeout, unreadable output) come back as a result with ``error`` set.
    """
    spec = _spec(name)
    python = venv_python(name, root=root)
    video = Path(video_path)
    if not python.exists():
        return PeerResult.failed(name, f"no venv python at {python}; run ensure_peer_venv first")
    if not video.is_file():
        return PeerResult.failed(name, f"video not found: {video}")
    missing = _missing_binaries(spec)
    if missing:
        return PeerResult.failed(
            name, f"missing {', '.join(missing)}; apt-get install {' '.join(spec.apt_packages)}"
        )
    prefix = _pin_prefix(core)
    runner = [str(spec.runner_path), str(video.resolve()), *spec.runner_args]
    with tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as cwd:
        try:
            cmd = [*prefix, str(python), "-I", *runner]
            proc = _run(cmd, env=_runner_env(spec), timeout_s=timeout_s, cwd=cwd)
        except subprocess.TimeoutExpired:
            return PeerResult.failed(name, f"timed out after {timeout_s:.0f} s")
        except OSError as exc:
            return PeerResult.failed(name, f"cannot start runner: {exc}")
    if proc.returncode != 0:
        return PeerResult.failed(name, f"runner exit {proc.returncode}: {_tail(proc.stderr)}")
    try:
        result = parse_runner_output(name, proc.stdout)
    except PeerError as exc:
        return PeerResult.failed(name, str(exc))
    return dataclasses.replace(result, pinned_core=core if prefix else None)


def _with_install_info(result: PeerResult, *, root: Path) -> PeerResult:
    marker = _read_marker(Path(root) / result.name) or {}
    return dataclasses.replace(
        result,
        install_seconds=_finite_or_none(marker.get("install_seconds")),
        venv_mb=_finite_or_none(marker.get("venv_mb")),
    )


def _fmt(value: object, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


_COLUMNS = (
    ("peer", lambda r: r.name),
    ("version", lambda r: _fmt(r.version)),
    ("model", lambda r: _fmt(r.model)),
    ("frames", lambda r: _fmt(r.frames)),
    ("seconds", lambda r: _fmt(r.seconds, ".2f")),
    ("frames/s", lambda r: _fmt(r.frames_per_s, ".1f")),
    ("cpu s", lambda r: _fmt(r.cpu_seconds, ".2f")),
    ("load s", lambda r: _fmt(r.load_seconds, ".2f")),
    ("HR bpm", lambda r: _fmt(r.heart_rate_bpm, ".1f")),
    ("peak RSS MB", lambda r: _fmt(r.peak_rss_mb, ".0f")),
    ("child RSS MB", lambda r: _fmt(r.child_peak_rss_mb, ".0f")),
    ("install s", lambda r: _fmt(r.install_seconds, ".0f")),
    ("venv MB", lambda r: _fmt(r.venv_mb, ".0f")),
    ("status", lambda r: "ok" if r.ok else "error"),
)


def format_table(results: list[PeerResult]) -> str:
    """Plain-text table of results, one row per peer, then one line per error."""
    rows = [[h for h, _ in _COLUMNS]] + [[str(f(r)) for _, f in _COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        if not r.ok:
            lines.append(f"{r.name}: error: {r.error}")
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim.bench.peers",
        description="Run peer rPPG packages on VIDEO in their own venvs; report frames/s.",
    )
    parser.add_argument("video", type=Path)
    add = parser.add_argument
    add("--root", type=Path, default=Path(".bench/venvs"), help="one venv per peer in here")
    add("--peers", default=",".join(PEERS), help="comma-separated (default: %(default)s)")
    add("--no-install", action="store_true", help="use existing venvs only; never run pip")
    add("--no-pin", action="store_true", help="do not pin runners to core 0")
    add("--timeout-s", type=float, default=1800.0, help="per install step and per run")
    add("--json", type=Path, help="also write the results as JSON here")
    add("--strict", action="store_true", help="exit 1 when a peer failed (default: exit 0)")
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.peers.split(",") if n.strip()]
    try:
        for name in args.names:
            _spec(name)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _bench_one(name: str, args: argparse.Namespace) -> PeerResult:
    if not args.no_install:
        try:
            ensure_peer_venv(name, root=args.root, timeout_s=args.timeout_s)
        except (PeerError, OSError) as exc:
            return PeerResult.failed(name, f"install failed: {exc}")
    _log(name, f"running on {args.video}")
    result = run_peer(
        name, args.video, root=args.root, core=None if args.no_pin else 0, timeout_s=args.timeout_s
    )
    return _with_install_info(result, root=args.root)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code (0 unless --strict and a peer failed)."""
    args = _parse_args(argv)
    results = [_bench_one(name, args) for name in args.names]
    print(format_table(results))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    return 1 if args.strict and not all(r.ok for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
