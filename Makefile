# Two commands do all the set-up on a fresh machine (Python 3.11): `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-stress install clean gallery

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The default Alpine Space policy comparison: every regime x $(SEEDS) replicates on all cores, then the paired
# comparison against $(BASELINE). Writes the sweep and its report under outputs/alpine/<date>_<time>/.
SEEDS ?= 10
REGIMES ?= none,horizontal,topdown_s3,cluster_s3,transregional_s3
BASELINE ?= topdown_s3
run: $(STAMP)
	@dir=outputs/alpine/$$(date +%Y-%m-%d_%H-%M-%S); \
	$(BIN)/s3sim -m policy=$(REGIMES) "replicate=range($(SEEDS))" hydra.sweep.dir=$$dir; status=$$?; \
	if [ $$status -ne 2 ]; then $(BIN)/s3sim-compare $$dir --baseline $(BASELINE) || status=$$?; fi; \
	exit $$status

# The suite on $(TEST_WORKERS) pytest-xdist worker processes (TEST_WORKERS=0: in this process). Test modules with
# expensive module-scoped fixtures (runs, sweeps, the gallery) are each one xdist_group, so each runs whole on one
# worker: their fixtures are made once and their tests run in file order.
TEST_WORKERS ?= 2
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The README gallery: the three phase experiments and s3sim-validate at full size, figures into docs/gallery/.
gallery: $(STAMP)
	OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(BIN)/python experiments/gallery.py

bench: $(STAMP)
	OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(BIN)/python benchmarks/run.py

# Stress-test throughput on 2 local workers and the projected time of the standard stress test (docs/stress-test.md).
bench-stress: $(STAMP)
	OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(BIN)/python benchmarks/stress.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
