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
#                                              built mmcv_full wheel is in .whl/, whole or in
#                                              the parts this step writes; DIR, if given, gets
#                                              the one built, in parts of at most 15 MiB, so
#                                              that a device tool carries it back), then
#                                              `objprop doctor`, `objprop doctor --check-gpu`
#                                              and `--check-gpu-paper` (the paper's R50-FPN
#                                              configs through papermill; both in
#                                              DIR/gpu_check.json). OBJPROP_GPU_CHECK_PARTS
#                                              picks the parts ("toy paper", the default;
#                                              "paper" alone after a build, to stay within ten
#                                              minutes), OBJPROP_PAPER_ARGS adds flags to the
#                                              paper part (e.g. "--authors --workers-after 8").
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${OBJPROP_OFFLINE_WHEELS:-.whl}
PY=${OBJPROP_PYTHON:-python3}
SITE=${OBJPROP_SITE:-/tmp/objprop-site}
TARGET_PYTHON=${OBJPROP_TARGET_PYTHON:-3.12}
# What the check imports beyond torch, torchvision, numpy, scipy, matplotlib, OpenCV, Pillow,
# PyYAML, packaging, six, tqdm and zipp, which that python holds.
NEEDS=(mmdet pycocotools addict yapf terminaltables setuptools importlib-metadata platformdirs
       tomli lazy-importer defusedxml
       # the paper part runs book/train.md through papermill: papermill, jupytext, a kernel
       # and what they need beyond that python's packages
       papermill jupytext nbformat nbclient ipykernel ipython ipython-pygments-lexers
       jupyter-client jupyter-core traitlets pyzmq tornado comm debugpy matplotlib-inline
       nest-asyncio jedi parso pexpect ptyprocess prompt-toolkit wcwidth stack-data asttokens
       executing pure-eval fastjsonschema jsonschema jsonschema-specifications referencing
       rpds-py tenacity entrypoints ansicolors mdit-py-plugins)
# the version constraints.txt pins, else the venv's (what the tests ran with)
pinned() {
  grep -m1 -i "^$1==" constraints.txt \
    || .venv/bin/python -m pip --disable-pip-version-check freeze 2>/dev/null | grep -m1 -i "^${1//-/[-_]}==" \
    || echo "$1"
}

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
  # a built mmcv wheel that came back in parts (below): put it together first
  for first in "$WHEELS"/*.whl.part00; do
    [[ -e $first ]] || continue
    whole=${first%.part00}
    [[ -f $whole ]] || cat "${whole}".part* > "$whole"
  done
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
    # in parts of at most 15 MiB: a device tool brings back files of up to 16 MiB
    if [[ -n $out ]]; then
      for w in "$build"/mmcv_full-*.whl; do split -b 15M -d "$w" "$out/$(basename "$w").part"; done
    fi
  fi
  "$PY" -m objprop.cli doctor
  parts=${OBJPROP_GPU_CHECK_PARTS:-toy paper}
  status=0   # a failed part does not keep the other from measuring; the first failure exits
  if [[ " $parts " == *" toy "* ]]; then
    "$PY" -m objprop.cli doctor --check-gpu ${out:+--json "$out/gpu_check.json"} || status=$?
  fi
  if [[ " $parts " == *" paper "* ]]; then
    # shellcheck disable=SC2086  # the flags are words
    "$PY" -m objprop.cli doctor --check-gpu-paper ${out:+--json "$out/gpu_check.json"} \
      ${OBJPROP_PAPER_ARGS:-} || { s=$?; (( status )) || status=$s; }
  fi
  exit "$status"
  ;;
*)
  echo "usage: scripts/gpu_check_offline.sh download | run [DIR]" >&2; exit 2 ;;
esac
