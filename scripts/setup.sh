#!/usr/bin/env bash
# One-command, idempotent set-up of .venv/ (called by `make setup`, `make book`, `make test`).
# Each step logs to .setup-logs/<step>.log; a failing step prints one line naming the step and
# its log instead of a traceback. mmcv-full 1.7.2 ships only as source (scripts/build_mmcv.sh
# builds it); the built wheel is cached per user, keyed by mmcv, torch and Python version and
# CPU/CUDA, so a machine compiles it once.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${OBJPROP_VENV:-$ROOT/.venv}
PY=${OBJPROP_PYTHON:-python3.11}
LOGS=$ROOT/.setup-logs
CACHE=${OBJPROP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/objprop/wheels}
MMCV_VERSION=1.7.2
mkdir -p "$LOGS"

STAMP_INPUTS=$(cat constraints.txt pyproject.toml scripts/setup.sh scripts/build_mmcv.sh | sha256sum | cut -c1-16)
STAMP=$VENV/.objprop-setup-$STAMP_INPUTS

t0=$(date +%s)
step() {  # step NAME COMMAND...: run, time and log one step
  local name=$1; shift
  local log=$LOGS/$name.log s=$(date +%s)
  printf '[setup] %-22s ... ' "$name"
  # a subshell outside any `if`, so `set -e` holds inside the step's functions too
  set +e; ( set -e; "$@" ) >"$log" 2>&1; local rc=$?; set -e
  if [[ $rc == 0 ]]; then
    echo "ok ($(( $(date +%s) - s )) s)"
  else
    echo "FAILED"
    echo "setup: step '$name' failed; see $log (last lines below)" >&2
    tail -n 15 "$log" >&2
    exit 1
  fi
}

if [[ -f $STAMP && -x $VENV/bin/python ]]; then
  echo "[setup] .venv is up to date ($VENV)"
  exit 0
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
make_venv() { [[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"; "${PIP[@]}" install -q -U pip; }
step venv make_venv

step build-deps "${PIP[@]}" install -c constraints.txt setuptools wheel numpy torch torchvision

have_cuda_build() { command -v nvcc >/dev/null 2>&1 && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
TORCH_V=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
PY_TAG=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
if have_cuda_build || [[ ${FORCE_CUDA:-0} == 1 ]]; then
  FLAVOUR=cuda$("$VENV/bin/python" -c 'import torch; print(torch.version.cuda or "")')
  export FORCE_CUDA=1
else
  FLAVOUR=cpu
fi
KEY=mmcv-full-$MMCV_VERSION-torch$TORCH_V-$PY_TAG-$FLAVOUR
WHEEL_DIR=$CACHE/$KEY

build_mmcv() {
  rm -rf "$WHEEL_DIR.tmp"
  bash scripts/build_mmcv.sh "$VENV/bin/python" "$WHEEL_DIR.tmp"
  rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"   # atomic: a half build never counts
}
if ! ls "$WHEEL_DIR"/mmcv_full-*.whl >/dev/null 2>&1; then
  echo "[setup] building mmcv-full $MMCV_VERSION ($FLAVOUR ops) once for this machine: ~11 min on 2 cores"
  step mmcv-build build_mmcv
else
  echo "[setup] mmcv-full wheel from cache: $WHEEL_DIR"
fi
# mmcv's wheel asks for opencv-python; its cv2/ would overwrite the pinned
# opencv-python-headless's, and resolving it fetched up to three 70 MB wheels (a CI run ran out
# of disk there). So the wheel goes in without its requirements, which are listed here instead
# (its METADATA: addict, numpy, packaging, Pillow, pyyaml, yapf, opencv-python>=3), with the
# headless OpenCV standing in for opencv-python.
install_mmcv() {
  "${PIP[@]}" install -c constraints.txt --no-deps "$WHEEL_DIR"/mmcv_full-*.whl
  "${PIP[@]}" install -c constraints.txt addict numpy packaging pillow pyyaml yapf opencv-python-headless
}
step mmcv-install install_mmcv

step packages "${PIP[@]}" install -c constraints.txt -e ".[book,test]"

# TrackEval (HOTA, CLEAR, Identity) without its declared dependencies: it requires
# opencv-python, whose cv2/ would overwrite the pinned opencv-python-headless's, and
# scikit-image; both are used only by its J&F metric, imported lazily, which objprop does not
# run. Its other requirements (numpy, scipy, pycocotools, matplotlib, pillow) are pinned above
# and tabulate is listed. `pip check` reports those two as missing, knowingly.
step trackeval "${PIP[@]}" install -c constraints.txt --no-deps trackeval tabulate

# Headless Chromium renders the built book in the HTML-report test.
install_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "chromium missing and not root: tests/test_book.py's HTML-report test will FAIL;" \
         "install Debian's chromium (apt-get install chromium) as root"
  fi
}
step chromium install_chromium

rm -f "$VENV"/.objprop-setup-*
touch "$STAMP"
echo "[setup] done in $(( $(date +%s) - t0 )) s"
