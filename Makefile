# The two commands of the README, each doing its own set-up from nothing:
#   make demo   set up, then predict brain activity for the example clip on the offline lite model
#   make test   set up (with test tools and chromium), then lint and run the whole test suite
# and, for the web app:  make run
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo run test test-fast test-gpu bench lint

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/nforge example demo
	$(BIN)/nforge predict demo/nforge_example_clip.mp4 --roi "V*" "*STS*" A1 --out demo/example.nforge-lite.npz
	$(BIN)/nforge info demo/example.nforge-lite.npz

run: setup
	$(BIN)/python app.py

test:
	bash scripts/setup.sh --test
	$(BIN)/ruff check nforge_app tests bench app.py
	$(BIN)/python -m pytest

test-fast:
	$(BIN)/python -m pytest -m "not slow and not browser"

test-gpu:  # the tests marked gpu (skipped where torch sees no CUDA device; `make test` runs them too)
	$(BIN)/python -m pytest -m gpu

bench:
	bash scripts/setup.sh --test  # the benchmarks use the test tools (pytest, playwright, chromium)
	$(BIN)/python bench/run.py
