# centertrack_ros developer entry points. `make demo` and `make test` set the environment up
# themselves (scripts/setup_env.sh is idempotent and takes seconds once done).
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=
LINT_PATHS := centertrack_ros test launch scripts benchmarks
# A second CPU kernel set for the fidelity and path-equality tests: oneDNN's SSE4.1 kernels,
# ATen without vectorisation, one thread (test/fidelity/test_kernel_set.py checks it takes effect).
KERNEL_SET := CENTERTRACK_KERNEL_SET=sse41 ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default \
	OMP_NUM_THREADS=1

.PHONY: help setup test demo lint clean colcon-check

help:
	@echo "make demo   run the tracker demo (sets the environment up when needed)"
	@echo "make test   run the test suite, then its equality tests under a second CPU kernel set"
	@echo "make setup  create/update $(VENV): pinned packages, vision_msgs fallback, this package"
	@echo "make lint   ruff over $(LINT_PATHS), then mypy (pyproject.toml says what it checks)"
	@echo "make colcon-check  build the package with colcon in a temporary workspace, run the installed node"
	@echo "make clean  remove $(VENV) and build/test caches"

setup:
	@CENTERTRACK_VENV="$(abspath $(VENV))" scripts/setup_env.sh

test: setup
	$(PY) -m pytest test $(PYTEST_ARGS)
	$(KERNEL_SET) $(PY) -m pytest test $(PYTEST_ARGS) -m "reference or equality"

demo: setup
	$(VENV)/bin/centertrack_demo $(DEMO_ARGS)

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(PY) -m mypy

# Also run by `make test` (test/ros/test_colcon_workspace.py), with the session's exported model.
colcon-check: setup
	CENTERTRACK_VENV="$(abspath $(VENV))" scripts/colcon_check.sh

clean:
	rm -rf $(VENV) build install log .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
