#!/usr/bin/env bash
# The package as an index would ship it: `python -m build` makes an sdist and a wheel,
# `twine check --strict` passes on both, and the wheel, installed (not editable) into a fresh
# venv, reports the version it was built with and runs `edge-vitals run --demo`, `synth` and
# `simulate` from a folder outside the checkout (so nothing can come from the source tree).
#
#   .ci/wheel.sh      PYTHON: a python with build and twine (default .venv/bin/python, the
#                     dev extra); KEEP=1 keeps the temp dir. Exit 0 pass, 1 fail.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PYTHON=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d /tmp/edge-wheel.XXXXXX)
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi
fail() { printf 'wheel: FAILED: %s\n' "$*"; exit 1; }

"$PYTHON" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; fail "python -m build"; }
ls "$work"/dist/edge_vitals-*.tar.gz >/dev/null || fail "no sdist"
wheel=$(ls "$work"/dist/edge_vitals-*-py3-none-any.whl) || fail "no wheel"
"$PYTHON" -m twine check --strict "$work"/dist/* || fail "twine check"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" \
  || fail "pip install $(basename "$wheel")"
bin=$work/venv/bin
mkdir "$work/elsewhere" && cd "$work/elsewhere"   # no edge/ here: only the installed wheel

"$bin/python" - <<'PY' || fail "the installed package"
import importlib.metadata, sys
import edge
where, version = edge.__file__, importlib.metadata.version("edge-vitals")
print(f"wheel: edge {edge.__version__} from {where}")
sys.exit(f"not installed: {where}" if "site-packages" not in where
         else f"metadata says {version}" if version != edge.__version__ else 0)
PY
[ "$("$bin/edge-vitals" --version)" = "edge-vitals $("$bin/python" -c \
  'import importlib.metadata as m; print(m.version("edge-vitals"))')" ] || fail "--version"

"$bin/edge-vitals" run --demo --no-progress >demo.txt || fail "run --demo"
tail -4 demo.txt
"$bin/edge-vitals" synth clip.avi --seconds 12 --size 320x240 --codec MJPG --seed 1 \
  || fail "synth"
sim_rc=0   # 0 or 1 (a budget verdict) is a simulation that ran; 2 or a crash is not
"$bin/edge-vitals" simulate clip.avi --device pi5 --json sim.json || sim_rc=$?
[ "$sim_rc" -le 1 ] && [ -s sim.json ] || fail "simulate (exit $sim_rc)"
echo "wheel: PASSED ($(basename "$wheel"))"
