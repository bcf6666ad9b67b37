# Thin wrapper over CMake. Quick start: `make train` (main job) and `make test` (whole suite).
BUILD ?= build
SANITIZE_BUILD ?= build-sanitize
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
TSAN_BUILD ?= build-tsan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# `make test` turns trustgrad's own warnings into errors (TRUSTGRAD_WERROR), so a new one cannot land;
# a plain `make` / `make train` leaves the option as configured (OFF by default). Not the sanitizer
# build: with ASan, GCC 12 warns -Wmaybe-uninitialized inside libstdc++'s std::regex/std::function.
WERROR_FLAGS :=
test: WERROR_FLAGS := -DTRUSTGRAD_WERROR=ON

.PHONY: all setup setup-test setup-bench configure build train test test-sanitize fuzz-build fuzz fuzz-seeds test-tsan bench clean

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

# libFuzzer targets of every parser of outside data (clang, ASan + UBSan): each runs FUZZ_SECONDS
# (default 60) from its committed seeds, fuzz/corpus/<target>; a crash fails (docs/reliability.md).
fuzz-build:
	@bash scripts/setup.sh --with-fuzz
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="-O1 -g" \
	  -DTRUSTGRAD_FUZZ=ON -DTRUSTGRAD_CUDA=OFF -DTRUSTGRAD_BUILD_TESTS=OFF $(CMAKE_FLAGS) > $(FUZZ_BUILD).configure.log 2>&1 || { cat $(FUZZ_BUILD).configure.log; exit 1; }
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	@bash fuzz/run_fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Regenerates the committed seed corpora with the library's own writers.
fuzz-seeds: fuzz-build
	@$(FUZZ_BUILD)/fuzz/fuzz_make_seeds fuzz/corpus

# ThreadSanitizer (clang; libomp's Archer tool gives TSan the OpenMP regions' synchronisation, and
# ignore_noninstrumented_modules hides libomp's own uninstrumented internals): the datasets,
# engine and optim suites at 2 threads: the DataLoader's prefetch threads and the threaded CPU
# kernels. What is covered and what not: docs/reliability.md.
TSAN_SUITES = test_datasets test_engine test_optim
TSAN_ENV = OMP_TOOL_LIBRARIES=$$(llvm-config --libdir)/libarcher.so OMP_NUM_THREADS=2 \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1"
test-tsan:
	@bash scripts/setup.sh --with-fuzz
	@test -f "$$(llvm-config --libdir)/libarcher.so" || { echo "test-tsan: libomp's libarcher.so not found (scripts/setup.sh --with-fuzz)"; exit 1; }
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Tsan \
	  -DCMAKE_CXX_FLAGS_TSAN="-O1 -g -fsanitize=thread -Wno-pass-failed" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
	  -DTRUSTGRAD_CUDA=OFF -DTRUSTGRAD_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS) > $(TSAN_BUILD).configure.log 2>&1 || { cat $(TSAN_BUILD).configure.log; exit 1; }
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_SUITES)
	@for t in $(TSAN_SUITES); do \
	  echo "test-tsan: $$t"; \
	  $(TSAN_ENV) $(TSAN_BUILD)/tests/$$t --force-colors=0 --minimal || exit 1; \
	done

# The PyTorch side of `make bench` (bench/torch_reference.py) runs on Debian's python3-torch; without
# root or sudo the install fails and the bench prints trustgrad's figures only.
setup-bench:
	@bash scripts/setup.sh --with-torch || echo "note: could not install python3-torch; benchmarking trustgrad alone"

# BENCH_ARGS="64 2": batch and steps (default 256 5); MODELS="small resnet18" limits the networks.
bench: setup-bench build
	@bash bench/run_bench.sh $(BUILD) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD) $(BUILD).configure.log $(SANITIZE_BUILD).configure.log \
	  $(FUZZ_BUILD).configure.log $(TSAN_BUILD).configure.log
