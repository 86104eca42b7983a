# Two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs; torch is pinned
# and installed first so pip takes the CPU build on disk, not a CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
TORCH  := torch==2.13.0
# checkov (the security scan of the charts and Dockerfiles) pins packages that clash with
# the test environment's (packaging<24 against pytest's >=24), so it has a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30

.PHONY: test demo smoke lint venv clean services

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q checkov==$(CHECKOV_VERSION)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The integration tests start a real Redis and a real InfluxDB (1.6.7, Debian's) on
# loopback ports; install them when missing (as root on Debian).
services:
	@if ! command -v redis-server >/dev/null || ! command -v influxd >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				redis-server influxdb >/dev/null; \
		else \
			echo "redis-server and influxd are needed: apt-get install redis-server influxdb"; \
			exit 1; \
		fi; \
	fi

test: lint services $(CHECKOV)
	$(BIN)/python -m pytest -q

# The closed loop on this machine: simulated E2 nodes, the xApp, the rApp, a local A1
# mediator and a real InfluxDB on a loopback port; writes demo-out/ (report.md, PNG, JSON).
demo: $(STAMP) services
	$(BIN)/lasco-ric demo --json demo-out/summary.json

# The offline method experiment: every method adapted to two target regions, on small models.
smoke: $(STAMP)
	$(BIN)/python -m studies experiment --preset smoke --json reports/smoke.json

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .cache .pytest_cache .ruff_cache *.egg-info

# Reproduce the shipped LAM and reference SAM from nothing, and publish them as the next
# versions of model_store/default (signed with RELEASE_KEY; make one with
# `model-store keygen keys/release` and put keys/release.pub in
# model_store/default/trusted_keys/). Two schedules per model, as the shipped version 3:
# 30 epochs at peak 1e-3, then 40 (LAM, bf16) or 60 (SAM) more from those weights at peak
# 5e-4 with early stopping. About 5 hours on 2 CPU cores; every stage resumes where it stopped
# (make default-models again). LASCO_CACHE moves the channel cache.
LAM_PRESET ?= lam-small
PRETRAIN_EPOCHS ?= 30
LAM_EPOCHS_2 ?= 40
SAM_EPOCHS_2 ?= 60
RELEASE_KEY ?= keys/release.key
DEFAULT_STORE := model_store/default
PRETRAIN = $(BIN)/lasco pretrain --regions 1-100 --samples 1000 --resume

.PHONY: default-models study
default-models: $(STAMP)
	$(BIN)/lasco data generate --regions 1-100 --samples 1000
	$(PRETRAIN) --preset $(LAM_PRESET) --kind lam --epochs $(PRETRAIN_EPOCHS) \
		--out .cache/pretrain/lam-1.pt
	$(PRETRAIN) --preset $(LAM_PRESET) --kind lam --epochs $(LAM_EPOCHS_2) --lr 5e-4 \
		--patience 10 --bf16 --init .cache/pretrain/lam-1.pt --out .cache/pretrain/lam.pt
	$(PRETRAIN) --preset sam --kind sam_ref --epochs $(PRETRAIN_EPOCHS) \
		--out .cache/pretrain/sam_ref-1.pt
	$(PRETRAIN) --preset sam --kind sam_ref --epochs $(SAM_EPOCHS_2) --lr 5e-4 \
		--patience 10 --init .cache/pretrain/sam_ref-1.pt --out .cache/pretrain/sam_ref.pt
	rm -rf .cache/drafts
	$(BIN)/lasco export --checkpoint .cache/pretrain/lam.pt --name lam --out .cache/drafts/lam
	$(BIN)/lasco export --checkpoint .cache/pretrain/sam_ref.pt --name sam_ref \
		--out .cache/drafts/sam_ref --lam-artifact .cache/drafts/lam
	$(BIN)/model-store --store $(DEFAULT_STORE) publish .cache/drafts/lam --key $(RELEASE_KEY)
	$(BIN)/model-store --store $(DEFAULT_STORE) publish .cache/drafts/sam_ref --key $(RELEASE_KEY)

# A study on the shipped models (hours on a CPU; resumes where it stopped), as STUDY_WORKERS
# shard processes sharing the cores (two 1-thread workers beat one 2-thread run): STUDY is
# comparison (fair budgets, reports/comparison.*), scenarios (targets of other scenarios,
# reports/scenarios.*), scenarios-views (the shipped side network with views, E-LASCO and LAM
# fine-tuning on those targets at n = 1,000), augmented (see below) or study (the first,
# reports/adaptation.*).
STUDY ?= comparison
STUDY_WORKERS ?= 2
# The target channels each preset adapts to (generated once, then read from the cache).
STUDY_DATA_scenarios := --catalogue scenarios \
	--regions uma-los,uma-nlos,rma-los,rma-nlos,inh-los,inh-nlos,cdl-a,cdl-d
STUDY_DATA_scenarios-views := $(STUDY_DATA_scenarios)
STUDY_DATA = $(or $(STUDY_DATA_$(STUDY)),--regions 101-110)
study: $(STAMP)
	$(BIN)/lasco data generate $(STUDY_DATA) --samples 5000
	$(BIN)/python -m studies experiment --preset $(STUDY) --resume --workers $(STUDY_WORKERS)

# Phase-rotation augmentation: the augmented preset (E-LASCO, the side network and LAM
# fine-tuning with every training sample in 16 common-phase views; reports/augmented.*),
# then its table against the comparison's runs without views (reports/augment.*; it needs
# reports/comparison.json). Hours on a CPU; resumes where it stopped. AUGMENTED=augmented-wide
# adds 3e-3 to the rate grid and reuses the augmented preset's runs it would repeat
# (reports/augmented-wide.*, its table reports/augment-wide.*); AUGMENTED=side-timed runs the
# side network at the rate that grid chose within a quarter of fine-tuning's time, its table
# against the wide run's fine-tuning (reports/augment-timed.*).
AUGMENTED ?= augmented
AUGMENT_TABLE_augmented-wide := reports/augmented-wide.json --json reports/augment-wide.json
AUGMENT_TABLE_side-timed := reports/side-timed.json --ceiling reports/augmented-wide.json \
	--json reports/augment-timed.json
.PHONY: augmented
augmented: $(STAMP)
	$(BIN)/lasco data generate --regions 101-110 --samples 5000
	$(BIN)/python -m studies experiment --preset $(AUGMENTED) --resume --workers $(STUDY_WORKERS)
	if [ -f reports/comparison.json ]; then \
	$(BIN)/python -m studies augment-table $(AUGMENT_TABLE_$(AUGMENTED)); \
	else echo "augment table: waits for reports/comparison.json (make study)"; fi

# The teacher probe: plug-ins adapted on all a region's training inputs labelled by the LAM
# fine-tuned on 1,000 true labels, whether they can represent what fine-tuning learns
# (reports/teacher.*; needs reports/comparison.json for its rates and true-label results, and
# reads the capacity run of the shipped reference for the plug-ins the comparison lacks).
TEACHER_REGIONS ?= 106,102,109
.PHONY: teacher
teacher: $(STAMP)
	$(BIN)/lasco data generate --regions 101-110 --samples 5000
	$(BIN)/python -m studies teacher --regions $(TEACHER_REGIONS) --resume \
		$$(ls reports/capacity-sam.json 2>/dev/null | sed "s/^/--true-labels /")

# The plug-in's capacity sweep: a reference SAM of preset CAPACITY_SAM (sam-s 0.27x, sam-l 3.8x
# the shipped one's parameters) pre-trained on the shipped reference's two schedules, published
# beside the shipped LAM to a study store signed by a throwaway key (.cache/capacity/), then the
# capacity preset on it: reports/capacity-CAPACITY_SAM.* (CAPACITY_SAM=sam: the shipped
# reference, no pre-training), and reports/capacity.* tables every size run so far (it needs
# reports/comparison.json). Hours on a CPU (sam-l the most); every stage resumes.
CAPACITY_SAM ?= sam-s
CAPACITY_DIR := .cache/capacity/$(CAPACITY_SAM)
CAPACITY_CKPT := .cache/pretrain/capacity-$(CAPACITY_SAM)
# The shipped LAM version the comparison ran on (read when the recipe runs, after the venv
# exists): every capacity run pairs with the comparison's fine-tuning on that LAM
SHIPPED_LAM = $(DEFAULT_STORE)/lam/$(shell $(BIN)/python -c "from studies.presets import STUDIES; print(STUDIES['comparison'].lam_version)")
.PHONY: capacity
# The table of every size run so far (listed when the line runs: the run before it writes one);
# it pairs them with the comparison's fine-tuning, so it waits for reports/comparison.json.
CAPACITY_REPORTS = $$(ls reports/capacity-sam*.json | grep -v -e '\.state\.' -e '\.claims\.')
CAPACITY_TABLE = if [ -f reports/comparison.json ]; then \
		$(BIN)/python -m studies capacity-table $(CAPACITY_REPORTS); \
	else echo "capacity table: waits for reports/comparison.json (make study)"; fi
capacity: $(STAMP)
	$(BIN)/lasco data generate --regions 101-110 --samples 5000
ifeq ($(CAPACITY_SAM),sam)
	$(BIN)/python -m studies experiment --preset capacity --resume --workers $(STUDY_WORKERS) \
		--json reports/capacity-sam.json
	$(CAPACITY_TABLE)
else
	$(BIN)/lasco data generate --regions 1-100 --samples 1000
	$(PRETRAIN) --preset $(CAPACITY_SAM) --kind sam_ref --epochs $(PRETRAIN_EPOCHS) \
		--out $(CAPACITY_CKPT)-1.pt
	$(PRETRAIN) --preset $(CAPACITY_SAM) --kind sam_ref --epochs $(SAM_EPOCHS_2) --lr 5e-4 \
		--patience 10 --init $(CAPACITY_CKPT)-1.pt --out $(CAPACITY_CKPT).pt
	test -d $(CAPACITY_DIR)/store || { \
		rm -rf $(CAPACITY_DIR) && mkdir -p $(CAPACITY_DIR) && \
		$(BIN)/model-store keygen $(CAPACITY_DIR)/key && \
		$(BIN)/lasco export --checkpoint $(CAPACITY_CKPT).pt --name sam_ref \
			--out $(CAPACITY_DIR)/sam_ref --lam-artifact $(SHIPPED_LAM) && \
		$(BIN)/model-store --store $(CAPACITY_DIR)/new --trusted $(CAPACITY_DIR)/key.pub \
			publish $(SHIPPED_LAM) --key $(CAPACITY_DIR)/key.key && \
		$(BIN)/model-store --store $(CAPACITY_DIR)/new --trusted $(CAPACITY_DIR)/key.pub \
			publish $(CAPACITY_DIR)/sam_ref --key $(CAPACITY_DIR)/key.key && \
		mv $(CAPACITY_DIR)/new $(CAPACITY_DIR)/store; }
	$(BIN)/python -m studies experiment --preset capacity --resume --workers $(STUDY_WORKERS) \
		--store $(CAPACITY_DIR)/store --trusted $(CAPACITY_DIR)/key.pub \
		--json reports/capacity-$(CAPACITY_SAM).json
	$(CAPACITY_TABLE)
endif
