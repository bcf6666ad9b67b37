# Thin wrapper over CMake. Quick start: `make train` (main job) and `make test` (whole suite).
BUILD ?= build
SANITIZE_BUILD ?= build-sanitize
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# `make test` turns trustgrad's own warnings into errors (TRUSTGRAD_WERROR), so a new one cannot land;
# a plain `make` / `make train` leaves the option as configured (OFF by default). Not the sanitizer
# build: with ASan, GCC 12 warns -Wmaybe-uninitialized inside libstdc++'s std::regex/std::function.
WERROR_FLAGS :=
test: WERROR_FLAGS := -DTRUSTGRAD_WERROR=ON

.PHONY: all setup setup-test setup-bench configure build train test test-sanitize bench clean

all: build

setup:
	@bash scripts/setup.sh

# The suite also renders the training report in headless Chromium and reads Debian's Fashion-MNIST.
setup-test:
	@bash scripts/setup.sh --with-browser --with-data

configure: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) $(WERROR_FLAGS) > $(BUILD).configure.log 2>&1 || { cat $(BUILD).configure.log; exit 1; }
	@grep -E "trustgrad backends" $(BUILD).configure.log || true

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# The main job: train with LAMBC (CIFAR-10 when present or downloadable, else Fashion-MNIST).
train: build
	@bash scripts/train.sh $(BUILD) $(ARGS)

test: setup-test build
	@cd $(BUILD) && ctest --output-on-failure -j 1

test-sanitize: setup-test
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRUSTGRAD_SANITIZE=ON -DTRUSTGRAD_CUDA=OFF -DTRUSTGRAD_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS) > $(SANITIZE_BUILD).configure.log 2>&1 || { cat $(SANITIZE_BUILD).configure.log; exit 1; }
	@cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	@cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 TG_SANITIZE=1 ctest --output-on-failure -j 1

# The PyTorch side of `make bench` (bench/torch_reference.py) runs on Debian's python3-torch; without
# root or sudo the install fails and the bench prints trustgrad's figures only.
setup-bench:
	@bash scripts/setup.sh --with-torch || echo "note: could not install python3-torch; benchmarking trustgrad alone"

# BENCH_ARGS="64 2": batch and steps (default 256 5); MODELS="small resnet18" limits the networks.
bench: setup-bench build
	@bash bench/run_bench.sh $(BUILD) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD) $(BUILD).configure.log $(SANITIZE_BUILD).configure.log
