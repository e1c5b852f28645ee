# The two quick-start commands: `make train` and `make test`. Each creates .venv,
# installs lowtf with the versions in constraints.txt, and makes sure the Fashion-MNIST
# files are there.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp
PEERS_REQUIREMENTS := benchmarks/peers/requirements.txt
DATA := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: train test data browser benchmark benchmark-peers clean

train: $(STAMP) data
	$(BIN)/lowtf train
	@echo "--- restoring the final model in a new process ---"
	$(BIN)/lowtf evaluate logs/fashion_mnist_dnn

# The whole suite with this CPU's oneDNN default, then the numerics-sensitive tests
# (NaN guard, exact resume, optimizers vs Keras, evaluation) with oneDNN the other way:
# the machines that run lowtf differ, and so do their kernels.
test: $(STAMP) data browser
	@$(BIN)/python -m lowtf.machine
	$(BIN)/pytest -q
	@other=$$($(BIN)/python -m lowtf.machine --other-onednn) && \
	  echo "--- numerics tests again: $$(TF_ENABLE_ONEDNN_OPTS=$$other $(BIN)/python -m lowtf.machine)" && \
	  TF_ENABLE_ONEDNN_OPTS=$$other $(BIN)/pytest -q -m numerics

benchmark: $(STAMP) data
	$(BIN)/python benchmarks/train_speed.py

# lowtf and Keras against JAX and PyTorch, each variant in its own process. JAX and PyTorch
# live in their own venv, so lowtf's dependencies stay TensorFlow, numpy and TensorBoard.
# Options for the script: make benchmark-peers PEER_ARGS=--quick
benchmark-peers: $(STAMP) $(PEERS_STAMP) data
	$(BIN)/python benchmarks/peer_speed.py --peers-python $(PEERS_VENV)/bin/python $(PEER_ARGS)

$(PEERS_STAMP): $(PEERS_REQUIREMENTS) | $(STAMP)
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install -q -r $(PEERS_REQUIREMENTS)
	@touch $(PEERS_STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing python3-venv"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The data: LOWTF_DATA_DIR or the Keras cache if the user has them, else Debian's package.
data:
	@if [ -n "$$LOWTF_DATA_DIR" ] || [ -f $(DATA) ] || \
	    [ -f "$${KERAS_HOME:-$$HOME/.keras}/datasets/fashion-mnist/train-images-idx3-ubyte.gz" ]; then \
	  true; \
	elif command -v apt-get >/dev/null; then \
	  echo "Installing Debian's dataset-fashion-mnist"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	else \
	  echo "No Fashion-MNIST found and no apt-get: lowtf will try to download it (needs internet)"; \
	fi

# Headless Chromium for the dashboard-in-a-browser test (Debian's package).
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the TensorBoard browser test"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) $(PEERS_VENV) *.egg-info .pytest_cache .hypothesis
