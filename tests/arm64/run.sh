#!/usr/bin/env bash
# The README's Pi install, run as written in an emulated Pi: a Debian bookworm arm64 rootfs
# (the userland of 64-bit Raspberry Pi OS) under qemu-user with what the README's step 2
# installs (python3-venv, g++, python3-dev, git; not python3-picamera2, which comes from
# Raspberry Pi's own archive), then the README's pi-install block, extracted from README.md
# now (tests/arm64/readme_block.py) and run verbatim but for the clone's URL, which becomes
# a snapshot of this checkout. Then, in that venv: the kernels compiled ahead of time by the
# block's `warmup` (numba never imported), `edge-vitals run` on a clip generated on the host
# (HR checked against the truth) and a small test subset.
# qemu notes: QEMU_CPU=cortex-a76 (qemu's default "max" CPU, with SVE, is ~15x slower for
# onnxruntime), and no /proc or /sys bind mounts (onnxruntime segfaults under qemu with them).
#
#   tests/arm64/run.sh [WORKDIR]      (root; WORKDIR default: a fresh mktemp dir, removed after
#                                      unless KEEP=1; a kept rootfs is reused)
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
for tool in debootstrap qemu-aarch64-static update-binfmts git; do
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
venv=/root/edge-vitals                   # the README's ~/edge-vitals (HOME=/root)
cache=/root/.cache/edge-vitals/numba     # the README's warmup --cache-dir, as the service uses
# Run a command in the emulated Pi, as a login shell would (no venv on PATH; the README block
# runs without NUMBA_CACHE_DIR, as a user types it). Without /proc,
# every process that loads onnxruntime says "Can't read /proc/cpuinfo"; that line is filtered
# out of stderr (nothing else is).
in_pi() {
  { chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
      LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
      PIP_DEFAULT_TIMEOUT=180 NUMBA_CACHE_DIR=$cache QEMU_CPU=$QEMU_CPU "$@" \
      2>&1 1>&3 3>&- | { grep -v "^Can't read /proc/cpuinfo" || true; } >&2; } 3>&1
}

# ---- host side: a snapshot of the checkout to clone, the README's block, a clip ------------
log "snapshot of the checkout (what a user clones), the README's pi-install block, a ${HR_BPM} bpm clip"
mkdir -p "$work/src"   # tracked and untracked-but-not-ignored files: the checkout as it is now
rm -rf "$work/src/repo" && mkdir "$work/src/repo"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do
      if [ -e "$f" ]; then cp -P --parents -t "$work/src/repo" "$f"; fi  # not: deleted files
    done)
git -C "$work/src/repo" init -q
git -C "$work/src/repo" add -A
git -C "$work/src/repo" -c user.name=ci -c user.email=ci@localhost commit -q -m snapshot
"$PYTHON" "$repo/tests/arm64/readme_block.py" pi-install --repository /srv/edge-vitals.git \
  >"$work/pi-install.sh" || fail "no pi-install block in README.md"
printf '%s\n' "---- README.md pi-install block (clone URL -> /srv/edge-vitals.git):" \
  "$(cat "$work/pi-install.sh")" "----"
# lossless FFV1: at 320x240, MJPG's quantisation buries the pulse (no ok reading, x86 too)
"$PYTHON" -m edge synth "$work/clip.avi" --hr "$HR_BPM" --seconds 20 --size 320x240 \
  --codec FFV1 --seed 3

# ---- the rootfs -----------------------------------------------------------------------------
if [ ! -x "$root/usr/bin/python3" ]; then
  log "debootstrap bookworm arm64 (minbase)"
  # the README's step 2 but python3-picamera2 (Raspberry Pi's archive); g++: edge.aot
  pkgs=python3,python3-venv,python3-pip,ca-certificates,g++,python3-dev,git
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

log "the README's pi-install block, verbatim (pip, warmup: slow under emulation)"
rm -rf "$root/srv/edge-vitals.git" "$root/root/edge-vitals-src" "$root/srv/ev"
mkdir -p "$root/srv/ev"
git clone -q --bare "$work/src/repo" "$root/srv/edge-vitals.git"
cp "$work/pi-install.sh" "$work/clip.avi" "$root/srv/ev/"
if [ ! -e "$root/usr/bin/sudo" ]; then   # a Pi user has sudo; root in the chroot needs none
  printf '#!/bin/sh\nexec "$@"\n' >"$root/usr/local/bin/sudo"; chmod +x "$root/usr/local/bin/sudo"
fi
in_pi env -u NUMBA_CACHE_DIR bash -euxo pipefail /srv/ev/pi-install.sh || fail "the README's pi-install block"

in_pi "$venv/bin/python" -c 'import platform, edge, numpy, numba, onnxruntime, cv2
print(platform.machine(), platform.python_version(), "edge", edge.__version__, numpy.__version__,
      numba.__version__, onnxruntime.__version__, cv2.__version__)' \
  || fail "imports in the emulated Pi"

in_pi "$venv/bin/python" -c 'import sys; from edge import kernels
print("arm64: kernels", kernels.BACKEND, "numba imported:", "numba" in sys.modules)
sys.exit(kernels.BACKEND != "aot" or "numba" in sys.modules)' \
  || fail "warmup did not compile the kernels ahead of time (see its last line above)"

log "edge-vitals run on the clip"
in_pi "$venv/bin/edge-vitals" run /srv/ev/clip.avi --json --no-progress >"$work/readings.jsonl" \
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
in_pi "$venv/bin/pip" install --quiet pytest
in_pi sh -c "cd /srv/ev && $venv/bin/python -m pytest -q -p no:cacheprovider tests" \
  || fail "test subset"

log "PASSED in $(( $(date +%s) - start )) s"
}

main "$@"
