# The two commands a fresh machine needs: `make book` (the main job) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= data/toyvis
SEED ?= 0
# training seeds: every trained method runs once per seed; tables show mean ± std over them
SEEDS ?= 0 1 2
# how many of SEEDS the authors' preset and its equal-budget control (MaskTrack R-CNN trained
# on from the same checkpoint) train on (0: neither)
AUTHORS_SEEDS ?= 3
# how many of SEEDS the paper's ObjProp is also fine-tuned on from the baseline's checkpoint
# (the authors' recipe with the paper's design; outside the default book's time)
RECIPE_SEEDS ?= 0
STAMP = $(wildcard $(VENV)/.objprop-setup-*)

.PHONY: setup book test toyvis clean-book bench variants budget trials variance power ablation gpu-check gpu-check-paper profile pretrain

setup:
	@bash scripts/setup.sh

# reuses the folder when it holds the same request (toyvis-request.json), rewrites it otherwise
toyvis: setup
	@$(VENV)/bin/objprop make-toyvis --out $(DATA) --seed $(SEED)

# The toy detector's COCO start (objprop.pretrain): ToyCOCO's still images written to $(TOYCOCO)
# (reused for the same request), the toy Mask R-CNN trained on them, its loss curve and COCO box
# and mask AP on the held-out images (results/pretrain.json). The checkpoint is cached per
# machine (~/.cache/objprop/pretrained/<key>/) and reused while its key matches; the toy
# configs start from it (load_from = 'pretrained://mask_rcnn_r18_fpn_toycoco'), so the studies
# that train (budget, trials, ablation, variants) make or reuse it first. `make book` makes it
# in its training chapter when it is missing.
TOYCOCO ?= data/toycoco
pretrain: setup
	@$(VENV)/bin/objprop pretrain --data $(TOYCOCO) --seed $(SEED)

# The whole book on the embedded ToyVIS data: every chapter executed through papermill
# (results/*.json, book/_executed/*.ipynb), then the HTML report in _build/html.
book: setup toyvis
	@$(VENV)/bin/objprop book run --data $(DATA) --seed $(SEED) --seeds $(SEEDS) --authors-seeds $(AUTHORS_SEEDS) --recipe-seeds $(RECIPE_SEEDS)
	@$(VENV)/bin/objprop book readme
	@$(VENV)/bin/jupyter-book build . --path-output . -q
	@echo "book: open _build/html/index.html"

# The propagation branch's training variants (objprop.studies.variants.BRANCH_VARIANTS), one run
# per variant and seed, measured on the tuning split: results/branch_variants.json, which the
# propagation chapter shows. One training per variant and seed: not part of `make book`.
variants: setup toyvis pretrain
	@$(VENV)/bin/objprop book variants --data $(DATA) --seeds $(SEEDS)

test: setup
	@$(PY) -m pytest -q

# The budget curve (objprop.studies.budget): baseline, ObjProp and the authors' preset at 1x,
# 2x, 4x and 8x the book's iterations, 2 seeds, scored on the tuning split:
# results/budget.json, which the evaluation chapter shows. Hours on 2 cores: not part of
# `make book`; prints its total time.
BUDGET_SEEDS ?= 0 1
budget: setup toyvis pretrain
	@$(VENV)/bin/objprop book budget --data $(DATA) --seeds $(BUDGET_SEEDS)

# Fidelity trials (objprop.studies.trials): the paper's SGD, MaskTrack R-CNN's plain dot-product
# match logits and the paper's stride 16, each trained from the pretrained start beside the
# book's run of its method (reused, or trained and then reused by the book), scored on the
# tuning split: results/recipe_trials.json. Prints its total time.
TRIALS_SEEDS ?= 0 1
trials: setup toyvis pretrain
	@$(VENV)/bin/objprop book trials --data $(DATA) --seeds $(TRIALS_SEEDS)

# What drives the central comparison's spread (objprop.studies.variance): ObjProp and MaskTrack
# R-CNN trained from the pretrained start with one source varied at a time (the initialisation,
# the data order, two threads, float32; seed 0 the reference, VARIANCE_LEVELS the other seeds),
# scored on the tuning split, and the split's videos resampled: results/variance.json, which
# the claims chapter shows. Prints its total time.
VARIANCE_LEVELS ?= 1 2
variance: setup toyvis pretrain
	@$(VENV)/bin/objprop book variance --data $(DATA) --levels $(VARIANCE_LEVELS)

# Seeds or videos (objprop.studies.power): ObjProp and MaskTrack R-CNN on POWER_SEEDS (the
# book's runs reused, the other seeds trained as the book trains them), scored on the tuning
# split grown to POWER_VIDEOS videos (its first are the book's) and cut into blocks: the
# spread over seeds at each split size, the seeds each size needs for the target smallest
# detectable effect and their minutes (after `make book`, whose times it prices them with):
# results/power.json, which the claims chapter shows. Prints its total time.
POWER_SEEDS ?= 0 1 2 3 4 5
POWER_VIDEOS ?= 120
power: setup toyvis pretrain
	@$(VENV)/bin/objprop book power --data $(DATA) --seeds $(POWER_SEEDS) --videos $(POWER_VIDEOS)

# Attribution (objprop.studies.ablation): each of the authors' choices left out of their preset
# in turn (retrained from the same baseline checkpoint, or re-scored where it acts at test
# time), on the book's seeds, scored on the tuning split: results/ablation.json, which the
# evaluation chapter shows. Needs the book's trained runs; prints its total time.
ABLATION_SEEDS ?= $(SEEDS)
ablation: setup toyvis pretrain
	@$(VENV)/bin/objprop book ablation --data $(DATA) --seeds $(ABLATION_SEEDS)

bench: setup
	@$(PY) benchmarks/bench_eval.py
	@$(PY) benchmarks/bench_models.py
	@$(PY) benchmarks/bench_train.py

# The CUDA path on one GPU: each toy method trained there, its online inference compared with
# the CPU's (same tracks, mask IoU >= 0.99), s/iteration GPU against CPU; refuses in one line
# without a GPU. Build mmcv's CUDA ops first (`FORCE_CUDA=1 make setup` where nvcc exists).
gpu-check: setup
	@$(VENV)/bin/objprop doctor --check-gpu --json results/gpu_check.json

# The paper's setting on one GPU (objprop/gpu_check_paper.py): the R50-FPN configs trained
# through book/train.md by papermill on ToyVIS at 1280x720, s/iteration, data wait, peak
# memory, images/s, 12 epochs on 4 GPUs extrapolated, DDP (NCCL) against the single process,
# torch.profiler's GPU busy share; under "paper" in results/gpu_check.json (sized for about 5
# minutes on an H100 once mmcv is built, an estimate not yet measured; refuses in one line
# without a GPU; its CPU twin is in tests/test_gpu_check.py).
gpu-check-paper: setup
	@$(VENV)/bin/objprop doctor --check-gpu-paper --json results/gpu_check.json

# where a toy training iteration goes (stages and torch operators)
profile: setup
	@$(PY) benchmarks/profile_train.py

clean-book:
	rm -rf results book/_executed _build
