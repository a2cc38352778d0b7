# sealtrain: the entry points. Everything builds with CMake into build/.
#   make demo    the main job end to end on the bundled dataset
#   make test    the whole suite, plainly and under ASan+UBSan
#   make bench   benchmarks side by side with their peers
#   make fuzz    a short run of every libFuzzer harness
#   make fault   the full fault-injection sweep (tests/fault/)
#   make install install the `sealtrain` CLI (PREFIX, default /usr/local)
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan test test-plain test-asan demo bench fuzz fault install clean format

all: build

deps:
	@scripts/install-deps.sh test

build: deps
	@cmake -S . -B build/default -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build/default -j $(JOBS)

build-asan: deps
	@cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DST_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build/asan -j $(JOBS)

test-plain: build
	@echo "== test suite (RelWithDebInfo) =="
	@cd build/default && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	@echo "== test suite (AddressSanitizer + UndefinedBehaviorSanitizer) =="
	@cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

test: test-plain test-asan

demo: build
	@scripts/demo.sh build/default/sealtrain

bench:
	@scripts/install-deps.sh bench
	@cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build build/bench -j $(JOBS)
	@bench/run.sh build/bench

fuzz: deps
	@CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DST_FUZZ=ON -DST_WERROR=OFF >/dev/null
	@cmake --build build/fuzz -j $(JOBS)
	@fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

# Every counted write, flush, rename, creating open, truncate and (every
# FAULT_ALLOC_STRIDE-th) allocation of each writing command fails in turn;
# `make test` runs a sample of the same (ctest fault/sampled).
FAULT_ALLOC_STRIDE ?= 50
fault: build
	@python3 tests/fault/run.py --sealtrain build/default/sealtrain \
	  --shim build/default/st_fault_shim.so \
	  --all --alloc-stride $(FAULT_ALLOC_STRIDE) --tmp build/default/testtmp

install: build
	@cmake --install build/default --prefix $(PREFIX)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
