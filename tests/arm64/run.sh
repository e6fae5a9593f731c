#!/usr/bin/env bash
# Proven arm64 install: a Debian bookworm arm64 rootfs (the userland of 64-bit Raspberry Pi OS)
# under qemu-user, the project's wheel pip-installed into a venv there, `edge-vitals warmup`
# (which compiles the kernels ahead of time with the rootfs's g++), `edge-vitals run` on a clip
# generated on the host (HR checked against the truth, numba never imported), and a small
# test subset. Facts this follows: ../shared/ref/toolchain.md §4 (QEMU_CPU=cortex-a76, no /proc
# or /sys bind mounts: onnxruntime segfaults under qemu's default CPU with them).
#
#   tests/arm64/run.sh [WORKDIR]      (root; WORKDIR default: a fresh mktemp dir, removed after
#                                      unless KEEP=1)
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, no binfmt_misc, tools missing).
# Environment: PYTHON (host python with edge-vitals installed; default .venv/bin/python),
#              MIRROR (default http://deb.debian.org/debian), HR_BPM (default 72), KEEP=1.
set -euo pipefail

main() {  # the whole script is one function: bash reads it fully before running any of it
cd "$(dirname "$0")/../.."
repo=$PWD
start=$(date +%s)
log() { printf '\n== arm64: %s (%ds)\n' "$*" "$(( $(date +%s) - start ))"; }
skip() { printf 'arm64: SKIPPED: %s\n' "$*"; exit 77; }
fail() { printf 'arm64: FAILED: %s\n' "$*"; exit 1; }

PYTHON=${PYTHON:-$repo/.venv/bin/python}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
HR_BPM=${HR_BPM:-72}
TOL_BPM=2

# ---- preconditions: say exactly why we skip -----------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, binfmt_misc)"
for tool in debootstrap qemu-aarch64-static update-binfmts; do
  command -v "$tool" >/dev/null || skip "$tool not found (apt-get install qemu-user-static binfmt-support debootstrap)"
done
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
    || skip "cannot mount binfmt_misc (container without CAP_SYS_ADMIN?)"
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || skip "the qemu-aarch64 binfmt handler cannot be registered"
"$PYTHON" -c "import edge" 2>/dev/null || skip "host python $PYTHON has no edge-vitals (pip install -e .)"

if [ $# -ge 1 ]; then work=$1; mkdir -p "$work"; else work=$(mktemp -d /tmp/edge-arm64.XXXXXX); fi
root=$work/rootfs
if [ $# -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi
export QEMU_CPU=cortex-a76   # qemu's default "max" CPU (SVE) is ~15x slower for onnxruntime
# Run a command in the emulated Pi. Without /proc, every process that loads onnxruntime says
# "Can't read /proc/cpuinfo"; that line is filtered out of stderr (nothing else is).
in_pi() {
  { chroot "$root" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root \
      LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
      PIP_DEFAULT_TIMEOUT=180 NUMBA_CACHE_DIR=/var/cache/edge-vitals QEMU_CPU=$QEMU_CPU "$@" \
      2>&1 1>&3 3>&- | { grep -v "^Can't read /proc/cpuinfo" || true; } >&2; } 3>&1
}

# ---- host side: the wheel and the clip ------------------------------------------------------
log "build the wheel and a ${HR_BPM} bpm clip on the host"
mkdir -p "$work/dist"
mkdir -p "$work/src"   # build from a copy: setuptools would write build/ into the checkout
cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/edge" "$repo/export" "$repo/firmware_sim" \
  "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m pip wheel --quiet --no-deps -w "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/edge_vitals-*.whl)
# lossless FFV1: at 320x240, MJPG's quantisation buries the pulse (no ok reading, x86 too)
"$PYTHON" -m edge synth "$work/clip.avi" --hr "$HR_BPM" --seconds 20 --size 320x240 \
  --codec FFV1 --seed 3

# ---- the rootfs -----------------------------------------------------------------------------
if [ ! -x "$root/usr/bin/python3" ]; then
  log "debootstrap bookworm arm64 (minbase)"
  pkgs=python3,python3-venv,python3-pip,ca-certificates,g++,python3-dev  # g++: edge.aot
  debootstrap --arch=arm64 --variant=minbase --include=$pkgs bookworm "$root" "$MIRROR" \
    >"$work/debootstrap.log" 2>&1 \
  || { log "debootstrap in one go failed; --foreign + --second-stage"; rm -rf "$root"
       debootstrap --foreign --arch=arm64 --variant=minbase --include=$pkgs bookworm "$root" \
         "$MIRROR" >>"$work/debootstrap.log" 2>&1
       cp /usr/bin/qemu-aarch64-static "$root/usr/bin/"
       chroot "$root" /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1; } \
  || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
in_pi uname -m | grep -qx aarch64 || fail "the chroot does not run as aarch64"

log "pip install the wheel into /opt/venv (aarch64 wheels only)"
mkdir -p "$root/wheel" "$root/srv/ev" "$root/var/cache/edge-vitals"
cp "$wheel" "$root/wheel/"
cp "$work/clip.avi" "$root/srv/ev/"
[ -x "$root/opt/venv/bin/python" ] || in_pi python3 -m venv /opt/venv
in_pi pip install --quiet --only-binary=:all: "/wheel/$(basename "$wheel")" pytest
in_pi python -c 'import platform, numpy, numba, onnxruntime, cv2
print(platform.machine(), platform.python_version(), numpy.__version__, numba.__version__,
      onnxruntime.__version__, cv2.__version__)' || fail "imports in the emulated Pi"

log "edge-vitals warmup (numba cache in /var/cache/edge-vitals)"
in_pi edge-vitals warmup --cache-dir /var/cache/edge-vitals

in_pi python -c 'import sys; from edge import kernels
print("arm64: kernels", kernels.BACKEND, "numba imported:", "numba" in sys.modules)
sys.exit(kernels.BACKEND != "aot" or "numba" in sys.modules)' \
  || fail "warmup did not compile the kernels ahead of time (see its last line above)"

log "edge-vitals run on the clip"
in_pi edge-vitals run /srv/ev/clip.avi --json --no-progress >"$work/readings.jsonl" \
  2>"$work/run.stderr" || { cat "$work/run.stderr"; fail "edge-vitals run"; }
cat "$work/run.stderr"
"$PYTHON" - "$work/readings.jsonl" "$work/clip.truth.csv" "$TOL_BPM" <<'PY' || fail "heart rate"
import csv, json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
truth = statistics.fmean(float(r["heart_rate_bpm"]) for r in csv.DictReader(open(sys.argv[2])))
tol = float(sys.argv[3])
hr = [r["heart_rate_bpm"] for r in rows if r["status"] == "ok"]
if not hr:
    sys.exit(f"arm64: no ok reading among {len(rows)}")
med = statistics.median(hr)
print(f"arm64: HR median {med:.1f} bpm over {len(hr)} ok readings (of {len(rows)}); "
      f"truth (clip mean) {truth:.2f}; error {med - truth:+.2f} bpm (tolerance {tol:g})")
sys.exit(0 if abs(med - truth) <= tol else 1)
PY

log "test subset in the emulated Pi"
rm -rf "$root/srv/ev/tests"; mkdir -p "$root/srv/ev/tests"
for f in conftest.py synthetic.py test_edge_validate.py test_edge_config.py test_edge_rates.py \
         test_imports.py test_edge_live.py; do
  if [ -e "$repo/tests/$f" ]; then cp "$repo/tests/$f" "$root/srv/ev/tests/"; fi
done
in_pi sh -c 'cd /srv/ev && python -m pytest -q -p no:cacheprovider tests' \
  || fail "test subset"

log "PASSED in $(( $(date +%s) - start )) s"
}

main "$@"
