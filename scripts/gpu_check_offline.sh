#!/usr/bin/env bash
# `make gpu-check` for a CUDA machine that cannot reach a package index but whose python3 already
# holds a CUDA build of torch and torchvision (the GPU machines lent to this project: Python 3.12,
# torch 2.11 for CUDA 13, nvcc, no internet). It uses that torch instead of the venv's pinned one
# and installs the rest beside it. Two halves:
#   scripts/gpu_check_offline.sh download      here, set up (make setup) and where pip reaches
#                                              PyPI: .whl/ gets
#                                              mmcv-full's source and the wheels the check needs
#                                              beyond what that python holds (pins from
#                                              constraints.txt)
#   scripts/gpu_check_offline.sh run [DIR]     there: installs .whl/ into $OBJPROP_SITE, builds
#                                              mmcv's ops for this GPU's architecture (unless a
#                                              built mmcv_full wheel is in .whl/; DIR, if given,
#                                              gets a copy of the one built), then `objprop doctor`
#                                              and `objprop doctor --check-gpu` (its rows in
#                                              DIR/gpu_check.json)
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${OBJPROP_OFFLINE_WHEELS:-.whl}
PY=${OBJPROP_PYTHON:-python3}
SITE=${OBJPROP_SITE:-/tmp/objprop-site}
TARGET_PYTHON=${OBJPROP_TARGET_PYTHON:-3.12}
# What the check imports beyond torch, torchvision, numpy, scipy, matplotlib, OpenCV, Pillow,
# PyYAML, packaging, six, tqdm and zipp, which that python holds.
NEEDS=(mmdet pycocotools addict yapf terminaltables setuptools importlib-metadata platformdirs
       tomli lazy-importer defusedxml)
pinned() { grep -m1 "^$1==" constraints.txt || echo "$1"; }

case ${1:-} in
download)
  # the venv's pip: preparing mmcv's source imports torch and pkg_resources
  PIP=(.venv/bin/python -m pip --disable-pip-version-check)
  mkdir -p "$WHEELS"
  specs=(); for n in "${NEEDS[@]}"; do specs+=("$(pinned "$n")"); done
  "${PIP[@]}" download --no-deps --only-binary=:all: --python-version "$TARGET_PYTHON" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$WHEELS" "${specs[@]}"
  "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation -d "$WHEELS" \
    "$(pinned mmcv-full)"
  du -sh "$WHEELS"
  ;;
run)
  out=${2:-}
  [[ -n $out ]] && mkdir -p "$out"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
  if ! ls "$SITE"/mmcv/_ext*.so >/dev/null 2>&1; then
    build=$(mktemp -d)
    arch=$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
    echo "[gpu-check] building mmcv-full's CUDA ops for sm_${arch/./} with $(nproc) jobs"
    s=$(date +%s)
    FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$arch MMCV_BUILD_DIR=${MMCV_BUILD_DIR:-/tmp/objprop-mmcv-src} bash scripts/build_mmcv.sh "$PY" "$build" \
      "$WHEELS"/mmcv-full-*.tar.gz > "${out:-$build}/mmcv_build.log" 2>&1 \
      || { tail -n 40 "${out:-$build}/mmcv_build.log"; echo "[gpu-check] mmcv build failed"; exit 1; }
    echo "[gpu-check] mmcv built in $(( $(date +%s) - s )) s"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$build"/mmcv_full-*.whl
    [[ -n $out ]] && cp "$build"/mmcv_full-*.whl "$out"/
  fi
  "$PY" -m objprop.cli doctor
  "$PY" -m objprop.cli doctor --check-gpu ${out:+--json "$out/gpu_check.json"}
  ;;
*)
  echo "usage: scripts/gpu_check_offline.sh download | run [DIR]" >&2; exit 2 ;;
esac
