#!/usr/bin/env bash
# scripts/build_mmcv.sh PYTHON OUT_DIR [SDIST]: build mmcv-full 1.7.2's wheel, compiled ops
# included (CPU, or CUDA too when FORCE_CUDA=1; TORCH_CUDA_ARCH_LIST narrows the GPU
# architectures), for PYTHON's torch, into OUT_DIR. The source comes from PyPI, or from SDIST
# where no index can be reached. With MMCV_BUILD_DIR the source is unpacked there and kept, so an
# interrupted build resumes where it stopped (ninja recompiles only what is missing). The one
# place mmcv is built: scripts/setup.sh calls it for the venv, scripts/gpu_check_offline.sh for a
# GPU machine's own python.
set -euo pipefail
PY=$1 OUT=$2 SDIST=${3:-}
MMCV_VERSION=1.7.2
PIP=("$PY" -m pip --disable-pip-version-check)
if [[ -n ${MMCV_BUILD_DIR:-} ]]; then
  src=$MMCV_BUILD_DIR; mkdir -p "$src"
else
  src=$(mktemp -d); trap 'rm -rf "$src"' EXIT
fi
if [[ -z $SDIST ]]; then
  # --no-build-isolation: its metadata step imports pkg_resources (setuptools < 81)
  "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation -d "$src" "mmcv-full==$MMCV_VERSION"
  SDIST=$src/mmcv-full-$MMCV_VERSION.tar.gz
fi
dir=$src/mmcv-full-$MMCV_VERSION
[[ -f $dir/setup.py ]] || tar -xzf "$SDIST" -C "$src"
# torch >= 2.10 headers need C++20; mmcv 1.7.2 hard-codes C++14/17.
sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$dir/setup.py"
if [[ ${FORCE_CUDA:-0} == 1 ]]; then
  # nvcc's toolkit may lack cuSPARSE/cuBLAS headers; torch's wheel ships them.
  sp=$("$PY" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
  export CPATH="$sp/nvidia/cu13/include:$sp/nvidia/cudnn/include${CPATH:+:$CPATH}"
fi
mkdir -p "$OUT"
MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
  "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$OUT" "$dir"
