# The two commands: `make demo` (main job on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean models

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dd demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-only \
		--benchmark-json=benchmarks/results/latest.json -q

clean:
	rm -rf $(VENV) dd_data dd_output .pytest_cache

# Reproduce the models shipped in ddplugins/xenon1t/models (about 15 minutes on 2 cores).
MODELS := ddplugins/xenon1t/models
models: $(STAMP)
	$(BIN)/dd train cnn --image-kind hitpeak -o $(MODELS)/xenon1t_cnn_hitpeak.keras
	$(BIN)/dd train cnn --image-kind hit -o $(MODELS)/xenon1t_cnn_hit.keras
	$(BIN)/dd train cnn --image-kind peak -o $(MODELS)/xenon1t_cnn_peak.keras
	$(BIN)/dd train cvae --image-kind hitpeak -o $(MODELS)/xenon1t_cvae_hitpeak.keras
	$(BIN)/dd train calibrate --cnn $(MODELS)/xenon1t_cnn_hitpeak.keras \
		--cvae $(MODELS)/xenon1t_cvae_hitpeak.keras -o $(MODELS)/xenon1t_anomaly_calibration.json
