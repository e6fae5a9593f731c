"""A systemd unit that keeps ``edge-vitals run`` going on the device.

`unit_text` renders the unit; `install`, `uninstall` and `status` manage the file. They
never call ``systemctl`` themselves (the CLI does, when asked with ``--systemctl``), so the
unit can be written and checked on a machine without systemd (tests, image builds).

A user unit (``~/.config/systemd/user``) runs as you and needs
``loginctl enable-linger $USER`` to start at boot without a login; a system unit
(``/etc/systemd/system``) runs as ``User=`` (the sudo user by default) in group ``video``.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from edge.errors import InputError

__all__ = ["UNIT_NAME", "ServiceSpec", "default_cache_dir", "install", "status", "systemctl_hint",
           "uninstall", "unit_dir", "unit_text"]

UNIT_NAME = "edge-vitals.service"
RESTART_SEC = 5


def unit_dir(*, user: bool) -> Path:
    """Where systemd looks for units: the user's or the system's directory."""
    if user:
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config) / "systemd" / "user"
    return Path("/etc/systemd/system")


def default_cache_dir(*, user: bool) -> Path:
    """Numba cache of the service (warm it with ``edge-vitals warmup --cache-dir``)."""
    if user:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "edge-vitals" / "numba"
    return Path("/var/cache/edge-vitals/numba")


def _quote(arg: str) -> str:
    """One ExecStart word: systemd expands ``%`` specifiers and ``$`` variables; escape both."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not re.search(r"[\s\"'\\;]", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceSpec:
    """What the unit runs and how."""

    run_args: tuple[str, ...]
    """Arguments of ``edge-vitals run`` (e.g. ``("--camera", "0", "--mqtt", "broker")``)."""
    user: bool = True
    """A user unit (True) or a system unit."""
    python: str = sys.executable
    """Interpreter of the venv edge-vitals is installed in (absolute path)."""
    cache_dir: Path | None = None
    """``NUMBA_CACHE_DIR``; `default_cache_dir` if None."""
    run_as: str | None = None
    """``User=`` of a system unit; the sudo user, else the current user, if None."""
    restart_sec: int = RESTART_SEC


def unit_text(spec: ServiceSpec) -> str:
    """The unit file: ``Restart=on-failure`` after `restart_sec`, readings on the journal."""
    exec_start = " ".join(_quote(a) for a in (spec.python, "-m", "edge", "run", *spec.run_args))
    cache = spec.cache_dir or default_cache_dir(user=spec.user)
    lines = [
        "[Unit]",
        "Description=edge-vitals: vital signs from a camera (not a medical device)",
        "Wants=network-online.target",
        "After=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={exec_start}",
        "Restart=on-failure",
        f"RestartSec={spec.restart_sec}",
        f"Environment={_quote('NUMBA_CACHE_DIR=' + str(cache))}",
        "Environment=PYTHONUNBUFFERED=1",
    ]
    if not spec.user:
        run_as = spec.run_as or os.environ.get("SUDO_USER") or getpass.getuser()
        lines += [f"User={run_as}", "SupplementaryGroups=video"]
    lines += ["", "[Install]", f"WantedBy={'default' if spec.user else 'multi-user'}.target", ""]
    return "\n".join(lines)


def install(spec: ServiceSpec, *, directory: Path | None = None) -> Path:
    """Write the unit file; return its path. Mode 0600 if it holds an MQTT password."""
    path = (directory or unit_dir(user=spec.user)) / UNIT_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(unit_text(spec), encoding="utf-8")
        path.chmod(0o600 if "--mqtt-password" in spec.run_args else 0o644)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}"
                         f"{' (a system unit needs sudo)' if not spec.user else ''}") from None
    return path


def uninstall(*, user: bool, directory: Path | None = None) -> Path | None:
    """Remove the unit file; return its path, or None if there was none."""
    path = (directory or unit_dir(user=user)) / UNIT_NAME
    if not path.exists():
        return None
    try:
        path.unlink()
    except OSError as exc:
        raise InputError(f"cannot remove {path}: {exc.strerror}") from None
    return path


def status(*, user: bool, directory: Path | None = None) -> tuple[Path, str | None]:
    """The unit's path and its text, or None if not installed."""
    path = (directory or unit_dir(user=user)) / UNIT_NAME
    return path, path.read_text(encoding="utf-8") if path.exists() else None


def systemctl_hint(action: str, *, user: bool) -> list[list[str]]:
    """The systemctl commands that go with `action` ("install" or "uninstall")."""
    base = ["systemctl", "--user"] if user else ["systemctl"]
    name = UNIT_NAME.removesuffix(".service")
    if action == "install":
        return [[*base, "daemon-reload"], [*base, "enable", "--now", name]]
    return [[*base, "disable", "--now", name], [*base, "daemon-reload"]]
