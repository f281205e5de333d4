# infergate: the two commands a new user needs, plus the pieces they are made of.
#   make run    install what is missing, build Release, start the demo (two mocks + infergate)
#   make test   install what is missing, build, run every test (Release, then ASan+UBSan; and
#               the CUDA backend's build and tests where nvcc is installed)

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps sdk-deps tokenize-vectors build build-asan build-cuda test test-release test-asan \
        test-cuda run bench format clean install deb

all: build

deps:
	@scripts/install-deps.sh

# The official openai npm SDK, pinned by tests/sdk/package-lock.json, for
# tests/integration/openai_sdk_test.cc: installed when node_modules is missing or older than the
# lock file. Without node and npm those tests skip and say why; a failed npm ci fails the build.
sdk-deps:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  echo "sdk-deps: node or npm not found: the openai npm SDK tests will be skipped" \
	    "(install Node.js 18 or later with npm to run them)"; \
	elif [ ! -f tests/sdk/node_modules/.package-lock.json ] || \
	     [ tests/sdk/package-lock.json -nt tests/sdk/node_modules/.package-lock.json ]; then \
	  npm ci --prefix tests/sdk --no-audit --no-fund || \
	    { echo "sdk-deps: npm ci failed: is the npm registry reachable?" >&2; exit 1; }; \
	fi

# Reference vectors for tests/unit/tokenize/reference_test.cc: real Llama 2 and Llama 3
# vocabularies from npm packages and llama.cpp's own ids for them (node-llama-cpp, pinned by
# tests/tokenize/package-lock.json; --omit=optional leaves out its CUDA and Vulkan builds),
# written to tests/tokenize/vectors/ by tests/tokenize/make_vectors.mjs when missing or older
# than the script or the lock. Without node and npm, or where node-llama-cpp's prebuilt llama.cpp
# cannot run, those tests skip and say why; the tokenizers' own tests never depend on them.
TOK := tests/tokenize
tokenize-vectors:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  echo "tokenize-vectors: node or npm not found: the reference tokenizer tests will be" \
	    "skipped (install Node.js 18 or later with npm to run them)"; \
	else \
	  if [ ! -f $(TOK)/node_modules/.package-lock.json ] || \
	     [ $(TOK)/package-lock.json -nt $(TOK)/node_modules/.package-lock.json ]; then \
	    npm ci --prefix $(TOK) --omit=optional --ignore-scripts --no-audit --no-fund || \
	      { echo "tokenize-vectors: npm ci failed: is the npm registry reachable?" >&2; exit 1; }; \
	  fi; \
	  if [ ! -f $(TOK)/vectors/.done ] || [ $(TOK)/make_vectors.mjs -nt $(TOK)/vectors/.done ] || \
	     [ $(TOK)/package-lock.json -nt $(TOK)/vectors/.done ]; then \
	    rm -rf $(TOK)/vectors && node $(TOK)/make_vectors.mjs && touch $(TOK)/vectors/.done || \
	      echo "tokenize-vectors: make_vectors.mjs failed (above): the reference tokenizer" \
	        "tests will skip the vectors it did not write" >&2; \
	  fi; \
	fi

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DINFERGATE_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DINFERGATE_SANITIZE=ON \
	  -DINFERGATE_BENCH=OFF -DINFERGATE_WERROR=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-release: build sdk-deps tokenize-vectors
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

test-asan: build-asan sdk-deps tokenize-vectors
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 600

# The model runner's CUDA backend (README "Local model runner", CUDA): its own build directory
# with INFERGATE_CUDA=ON, building only the CUDA part and its unit tests (and the parts they
# need), not the whole tree again. Its tests skip, saying why, on a machine without a GPU, so
# here this proves the CUDA build compiles and links. `make test` includes it wherever nvcc is
# at the CUDA Toolkit's usual prefix.
NVCC       := /usr/local/cuda/bin/nvcc
CUDA_BUILD ?= build-cuda

build-cuda: deps
	@cmake -S . -B $(CUDA_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DINFERGATE_WERROR=ON \
	  -DINFERGATE_CUDA=ON -DCMAKE_CUDA_COMPILER=$(NVCC) -DINFERGATE_BENCH=OFF >/dev/null
	@cmake --build $(CUDA_BUILD) -j $(JOBS) --target unit_llm_cuda

# The binary itself, not ctest: ctest there would list the tests of every target, unbuilt ones too.
test-cuda: build-cuda
	@$(CUDA_BUILD)/bin/unit_llm_cuda --gtest_brief=1

test: test-release test-asan $(if $(wildcard $(NVCC)),test-cuda)

# make install [PREFIX=/usr] [DESTDIR=/tmp/root]: the binary, the systemd unit (its paths for
# PREFIX), the config in PREFIX's sysconfdir (/etc for /usr) and the man page.
PREFIX ?= /usr/local
install: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DINFERGATE_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target infergate
	@cmake --install $(BUILD) --prefix $(PREFIX)

# make deb: a Debian 12 package of the Release build (scripts/make-deb.sh; lintian must find no
# error), written to the build directory.
deb: build
	@scripts/make-deb.sh $(BUILD)

run: build
	@scripts/demo.sh $(BUILD)/bin

bench: build
	@bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(CUDA_BUILD)
