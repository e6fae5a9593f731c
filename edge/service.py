"""A systemd unit that keeps ``edge-vitals run`` going on the device.

`unit_text` renders the unit; `install`, `uninstall` and `status` manage the file. They
never call ``systemctl`` themselves (the CLI does, when asked with ``--systemctl``), so the
unit can be written and checked on a machine without systemd (tests, image builds).

A user unit (``~/.config/systemd/user``) runs as you and needs
``loginctl enable-linger $USER`` to start at boot without a login; a system unit
(``/etc/systemd/system``) runs as ``User=`` (the sudo user by default) in group ``video``.

A failed run is restarted with back-off: from `RESTART_SEC` up to `RESTART_MAX_DELAY_S`
where systemd knows how (``RestartSteps``, systemd >= 254), else every `RESTART_SEC_FIXED`
(Bookworm has systemd 252). After `START_LIMIT_BURST` starts within `START_LIMIT_INTERVAL_S`
(about five minutes of retrying: long enough for a broker that boots slowly) systemd gives
up, so a setting that can never work stops; `describe_state` says why.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from edge.errors import InputError

__all__ = ["BACKOFF_SYSTEMD_VERSION", "RESTART_MAX_DELAY_S", "RESTART_SEC", "RESTART_SEC_FIXED",
           "RESTART_STEPS", "SHOW_PROPERTIES", "START_LIMIT_BURST", "START_LIMIT_INTERVAL_S",
           "UNIT_NAME", "ServiceSpec", "default_cache_dir", "describe_state", "install",
           "parse_systemd_version", "status", "systemctl_hint", "uninstall", "unit_dir",
           "unit_text"]

UNIT_NAME = "edge-vitals.service"
RESTART_SEC = 5
"""First delay before a failed run is restarted, where the delay can grow (systemd >= 254)."""
RESTART_MAX_DELAY_S = 120
RESTART_STEPS = 8
"""The delay grows from `RESTART_SEC` to `RESTART_MAX_DELAY_S` in this many steps."""
RESTART_SEC_FIXED = 30
"""The delay where systemd cannot grow it (< 254, or version unknown)."""
START_LIMIT_INTERVAL_S = 1800
START_LIMIT_BURST = 10
"""systemd gives up after this many starts within `START_LIMIT_INTERVAL_S`."""
BACKOFF_SYSTEMD_VERSION = 254
"""First systemd that knows ``RestartSteps`` and ``RestartMaxDelaySec``."""
SHOW_PROPERTIES = ("LoadState", "ActiveState", "SubState", "Result", "ExecMainStatus",
                   "NRestarts")
"""What `describe_state` reads from ``systemctl show -p ...``."""


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
    systemd_version: int | None = None
    """The target's systemd (``systemctl --version``): a growing restart delay needs
    `BACKOFF_SYSTEMD_VERSION`; older or unknown (None) gets a fixed one, so that systemd
    reads the unit without warnings.
    """


def parse_systemd_version(text: str) -> int | None:
    """The version in ``systemctl --version``'s first line (``systemd 252 (252.39-1)``)."""
    match = re.match(r"\s*systemd (\d+)", text)
    return int(match[1]) if match else None


def unit_text(spec: ServiceSpec) -> str:
    """The unit file: restarts with back-off and a start limit; readings go to the journal."""
    exec_start = " ".join(_quote(a) for a in (spec.python, "-m", "edge", "run", *spec.run_args))
    cache = spec.cache_dir or default_cache_dir(user=spec.user)
    lines = [
        "[Unit]",
        "Description=edge-vitals: vital signs from a camera (not a medical device)",
        "Wants=network-online.target",
        "After=network-online.target",
        f"StartLimitIntervalSec={START_LIMIT_INTERVAL_S}",
        f"StartLimitBurst={START_LIMIT_BURST}",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={exec_start}",
        "Restart=on-failure",
    ]
    if (spec.systemd_version or 0) >= BACKOFF_SYSTEMD_VERSION:
        lines += [f"RestartSec={RESTART_SEC}", f"RestartSteps={RESTART_STEPS}",
                  f"RestartMaxDelaySec={RESTART_MAX_DELAY_S}"]
    else:
        lines.append(f"RestartSec={RESTART_SEC_FIXED}")
    lines += [
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


def describe_state(properties: dict[str, str], journal: list[str], *, user: bool) -> list[str]:
    """What ``service status`` says about the running unit, in plain lines.

    Parameters
    ----------
    properties : dict
        `SHOW_PROPERTIES` as ``systemctl show`` gives them (``Result=start-limit-hit`` ...).
    journal : list of str
        The unit's last log lines (the run's one-line error is usually the last).
    user : bool
        A user unit (the hints then say ``systemctl --user``).
    """
    active = properties.get("ActiveState", "unknown")
    sub, result = properties.get("SubState", ""), properties.get("Result", "")
    restarts = properties.get("NRestarts", "0")
    lines = [f"state: {active} ({sub}), result {result or 'unknown'}, "
             f"{restarts} automatic restarts"]
    if properties.get("LoadState") == "not-found":
        lines = ["state: systemd does not know the unit yet (run systemctl daemon-reload)"]
    elif result == "start-limit-hit" or (active == "failed" and result != "success"):
        code = properties.get("ExecMainStatus", "")
        why = (f"it failed {START_LIMIT_BURST} times within {START_LIMIT_INTERVAL_S} s and "
               "systemd gave up" if result == "start-limit-hit" else f"it failed ({result})")
        ctl = "systemctl --user" if user else "sudo systemctl"
        name = UNIT_NAME.removesuffix(".service")
        lines.append(f"stopped: {why}; last exit status {code or 'unknown'}. Fix the cause "
                     f"(see the log below), then: {ctl} reset-failed {name} && "
                     f"{ctl} restart {name}")
    if journal:
        lines += ["last log lines:", *(f"  {line}" for line in journal)]
    return lines
