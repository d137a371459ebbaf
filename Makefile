# The two commands: `make demo` (main job on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-strax-oldest lint docs notebooks bench bench-peer peer-env validate-wfsim crosscheck-alea install clean models results

DEPS := $(VENV)/.dependencies
SOURCES := $(shell find ddcore ddplugins -type f \( -name '*.py' -o -name '*.toml' -o -name '*.keras' -o -name '*.json' -o -name '*.j2' \) 2>/dev/null)

# The environment: dependencies once, then the package itself (a regular, non-editable install,
# as a user gets it from a wheel) again whenever a source file changes.
$(DEPS): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet ".[test,ml,docs,published]"
	touch $(DEPS)

$(STAMP): $(DEPS) $(SOURCES)
	$(BIN)/pip install --quiet --no-deps --force-reinstall .
	rm -rf build
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ddcore demo --config configs/demo.toml

# flake8 (setup.cfg) and the import-layer contracts (pyproject.toml); `make test` runs it first
lint: $(STAMP)
	$(BIN)/flake8 ddcore ddplugins tests benchmarks docs
	$(BIN)/lint-imports --no-cache

# The docs site (site/): mkdocs in strict mode, the reference pages made from the registered
# detectors and commands (docs/hooks.py), the tutorials in docs/tutorials executed on the way (a
# failing cell fails the build): about 3 minutes on 2 cores. DOCS_EXECUTE_NOTEBOOKS=false skips them.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet

# The tutorials alone, executed by nbmake (what `make docs` also does)
notebooks: $(STAMP)
	cd docs/tutorials && ../../$(BIN)/python -m pytest -q --nbmake -p no:cacheprovider *.ipynb

# The rendering tests (report, event display, docs) need a headless browser: Debian's chromium,
# installed where possible. The docs test checks the site `make docs` built, tutorials executed.
# The test files are spread over TEST_WORKERS processes (pytest-xdist), each file's tests in one
# of them, so that a module's fixtures are made once; the session fixtures are made per process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
test: lint docs
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
		|| echo "chromium not available: the rendering tests will be skipped"
	DDCORE_DOCS_SITE=site $(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

# The tests that exercise strax itself (store, processing, the shim over its internals, contexts,
# configuration, parallel making) again on the oldest strax the range in pyproject.toml admits, in
# an environment of its own; .ci/run runs it after `make test`. strax before 2.2.3 calls np.in1d
# (select_runs, scan_runs), which numpy 2.4 removed: with those, numpy stays below 2.4. Without the
# ml extra (TensorFlow is 1.5 GB of disk a CI machine may not have twice): the one model-training
# step of these tests is skipped here and runs in `make test`.
STRAX_OLDEST ?= 2.1.4
OLDEST_VENV ?= .venv-strax-oldest
STRAX_TESTS ?= tests/test_strax_shim.py tests/test_storage.py tests/test_store.py tests/test_configs.py \
	tests/test_processing.py tests/test_registry_and_config.py tests/test_bad_input.py tests/test_parallel.py
test-strax-oldest:
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/pip install --quiet --no-cache-dir --upgrade pip
	$(OLDEST_VENV)/bin/pip install --quiet --no-cache-dir ".[test]" "strax==$(STRAX_OLDEST)" "numpy<2.4"
	$(OLDEST_VENV)/bin/python -c "import strax; assert strax.__version__ == '$(STRAX_OLDEST)', strax.__version__"
	$(OLDEST_VENV)/bin/python -m pytest -q $(PYTEST_PARALLEL) $(STRAX_TESTS)

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-only \
		--benchmark-json=benchmarks/results/latest.json -q

# straxen's chain beside this one on the same raw_records, in an environment of its own (straxen
# pins some packages differently); benchmarks/test_bench_peer.py is skipped where straxen is absent
PEER_VENV ?= .venv-peer
peer-env:
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/pip install --quiet ".[test,ml,peer]"

bench-peer: peer-env
	$(PEER_VENV)/bin/python -m pytest benchmarks/test_bench_peer.py --benchmark-enable --benchmark-only \
		--benchmark-json=benchmarks/results/peer.json -q

# WFSim's XENONnT raw_records (../shared/data/wfsim configuration) processed by straxen and by this
# project, both judged against WFSim's truth: docs/results/wfsim/ (about 6 minutes on 2 cores once
# .venv-peer exists)
WFSIM_EVENTS ?= 2000
WFSIM_WORK ?= dd_output/wfsim_validation
validate-wfsim: peer-env $(STAMP)
	$(PEER_VENV)/bin/python benchmarks/wfsim_validation.py simulate --events $(WFSIM_EVENTS) --work $(WFSIM_WORK)
	$(PEER_VENV)/bin/python benchmarks/wfsim_validation.py straxen --work $(WFSIM_WORK)
	$(BIN)/python benchmarks/wfsim_validation.py ddcore --work $(WFSIM_WORK)
	$(BIN)/python benchmarks/wfsim_validation.py compare --work $(WFSIM_WORK)

# The XENONnT light-WIMP limits from the release's own alea model (alea-inference, an environment
# of its own) beside the project's pyhf reproduction: docs/results/published/xenonnt_light_wimp_alea.*
# (about 2 minutes on 2 cores once .venv-alea exists)
ALEA_VENV ?= .venv-alea
LIGHT_WIMP_RELEASE ?= ../shared/data/xenonnt_light_wimp
crosscheck-alea:
	$(PYTHON) -m venv $(ALEA_VENV)
	$(ALEA_VENV)/bin/pip install --quiet --no-cache-dir --upgrade pip
	$(ALEA_VENV)/bin/pip install --quiet --no-cache-dir ".[alea]"
	$(ALEA_VENV)/bin/ddcore published --no-xenon1t --light-wimp-release $(LIGHT_WIMP_RELEASE) --alea \
		-o dd_output/alea_crosscheck
	cp dd_output/alea_crosscheck/xenonnt_light_wimp_alea.* docs/results/published/

clean:
	rm -rf $(VENV) $(PEER_VENV) $(OLDEST_VENV) $(ALEA_VENV) dd_data dd_output .pytest_cache site .cache

# Reproduce the models shipped in ddplugins/<detector>/models (xenon1t: ~50 minutes on 2 cores,
# ~30 of them the calibration's 2.8 million simulated events: 20,000 of every population, 40,000
# ER, 40,000 wall and 30,000 S2-only events, and the strata where the rare small-S1 events come
# from: 5 x 500,000 wall events at 0.5-3.5 keV and 50,000 ER events at 0.5-3 keV; ~10 GB of store):
#   make models                                       (xenon1t, as shipped)
#   make models DETECTOR=xenonnt HITPEAK_OPTIONS="--events 3000 --images-only" OTHER_CNN_KINDS= MODEL_EVENTS=3000 CALIBRATION_OPTIONS="--events 2000"
DETECTOR ?= xenon1t
HITPEAK_OPTIONS ?= --events 8000 --epochs 25 --layers 3
OTHER_CNN_KINDS ?= hit peak
MODEL_EVENTS ?= 4000
WALL_STRATUM = --stratum wall:0.5:3.5:500000
CALIBRATION_OPTIONS ?= --events 20000 --population-events er=40000,wall=40000,s2only=30000 \
	$(WALL_STRATUM) $(WALL_STRATUM) $(WALL_STRATUM) $(WALL_STRATUM) $(WALL_STRATUM) --stratum er:0.5:3.0:50000
MODELS = ddplugins/$(DETECTOR)/models/$(DETECTOR)
models: $(STAMP)
	$(BIN)/ddcore train cnn -d $(DETECTOR) --image-kind hitpeak $(HITPEAK_OPTIONS) -o $(MODELS)_cnn_hitpeak.keras
	for kind in $(OTHER_CNN_KINDS); do \
		$(BIN)/ddcore train cnn -d $(DETECTOR) --image-kind $$kind --events $(MODEL_EVENTS) --images-only \
			-o $(MODELS)_cnn_$$kind.keras || exit 1; \
	done
	$(BIN)/ddcore train cvae -d $(DETECTOR) --events $(MODEL_EVENTS) -o $(MODELS)_cvae_hitpeak.keras
	$(BIN)/ddcore train calibrate -d $(DETECTOR) --cnn $(MODELS)_cnn_hitpeak.keras \
		--cvae $(MODELS)_cvae_hitpeak.keras $(CALIBRATION_OPTIONS) --workers 2 \
		-o $(MODELS)_anomaly_calibration.json

# Re-make the dataset-level results of docs/results.md on realistic raw data (the shipped models;
# `make models` re-makes those and their calibration): the report with the methods on seven test
# seeds, the populations outside the model, the mis-modelled detector and the toy Monte Carlo;
# the sensitivity at 1 t yr; the published comparisons, the project's own model among them; the
# anomaly score calibrated as an experiment does (rn220 and ambe calibration runs and 20 blinded
# sideband science runs, found by their run metadata), the report with that calibration and the
# likelihoods' ER background from the same runs, the closure test of both calibrations on ten
# and on forty background-only science runs, and the light-WIMP limits from the release's own alea model
# (make crosscheck-alea: needs ../shared/data/xenonnt_light_wimp). About 2 hours on 2
# cores from an empty store (an estimate: the toys' Neyman and shifted-rate sets added ~10 minutes
# to a never-timed whole); outputs in dd_output/, copy them to docs/results/.
RESULTS ?= dd_output/results
REPORT_OPTIONS = --events 5000 --train-events 8000 --models ddplugins/$(DETECTOR)/models --bootstraps 5
CALIBRATION_RUNS = $(RESULTS)/$(DETECTOR)_anomaly_calibration_from_calibration_runs.json
BACKGROUND_ONLY = sim_pseudo_components=["er","neutron","cevns","accidental","wall","s2only","multisite"]
results: $(STAMP)
	$(BIN)/ddcore train calibrate -d $(DETECTOR) --from-calibration-runs --simulate-campaign 20000:5000:20 --wall-tail-events 100000 \
		--exclude-run pseudo_sr0_000 --exclude-run pseudo_sr0_001 -o $(CALIBRATION_RUNS)
	$(BIN)/ddcore report $(REPORT_OPTIONS) -o $(RESULTS)/$(DETECTOR)_calibration_runs_search --pseudo-run pseudo_sr0_001 \
		--test-seeds 7 --set anomaly_calibration_file=$(CALIBRATION_RUNS) --wall-tail-events 100000
	$(BIN)/ddcore report $(REPORT_OPTIONS) -o $(RESULTS)/$(DETECTOR)_calibration_runs --pseudo-run pseudo_sr0_001 \
		--test-seeds 7 --set anomaly_calibration_file=$(CALIBRATION_RUNS) --er-from-calibration-runs \
		--er-template-run rn220_sr0_400020000 --er-template-run er_sr0_301005000 --wall-tail-events 100000
	$(BIN)/ddcore closure -d $(DETECTOR) --simulate 420:10 --set '$(BACKGROUND_ONLY)' \
		--set anomaly_calibration_file=$(CALIBRATION_RUNS) -o $(RESULTS)/closure_calibration_runs.json
	$(BIN)/ddcore closure -d $(DETECTOR) --simulate 420:10 --set '$(BACKGROUND_ONLY)' \
		-o $(RESULTS)/closure_truth_calibration.json
	$(BIN)/ddcore closure -d $(DETECTOR) --simulate 420:40 --set '$(BACKGROUND_ONLY)' \
		--set anomaly_calibration_file=$(CALIBRATION_RUNS) -o $(RESULTS)/closure40_calibration_runs.json
	$(BIN)/ddcore closure -d $(DETECTOR) --simulate 420:40 --set '$(BACKGROUND_ONLY)' \
		-o $(RESULTS)/closure40_truth_calibration.json
	$(BIN)/ddcore closure -d $(DETECTOR) --simulate 460:40 --set '$(BACKGROUND_ONLY)' \
		--set anomaly_calibration_file=$(CALIBRATION_RUNS) -o $(RESULTS)/closure40b_calibration_runs.json
	$(BIN)/ddcore closure -d $(DETECTOR) --simulate 460:40 --set '$(BACKGROUND_ONLY)' \
		-o $(RESULTS)/closure40b_truth_calibration.json
	$(BIN)/ddcore report $(REPORT_OPTIONS) -o $(RESULTS)/$(DETECTOR)_realistic --pseudo-run pseudo_sr0_001 \
		--mismodelling --test-seeds 7 --toys 1000 --workers 2 --wall-tail-events 100000
	$(BIN)/ddcore evaluate $(REPORT_OPTIONS) -o $(RESULTS)/sensitivity_1ty \
		--sensitivity 6,10,20,50,100,200,500,1000 --sensitivity-live-days 351 --sensitivity-cs1-slices 3 \
		--wall-tail-events 100000 --sensitivity-seeds 4
	$(BIN)/ddcore published -o $(RESULTS)/published --project-model $(RESULTS)/sensitivity_1ty/evaluation.json
	$(MAKE) crosscheck-alea
