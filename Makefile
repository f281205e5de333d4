# infergate: the two commands a new user needs, plus the pieces they are made of.
#   make run    install what is missing, build Release, start the demo (two mocks + infergate)
#   make test   install what is missing, build, run every test (Release, then ASan+UBSan)

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps build build-asan test test-release test-asan run bench format clean install deb

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DINFERGATE_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DINFERGATE_SANITIZE=ON \
	  -DINFERGATE_BENCH=OFF -DINFERGATE_WERROR=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

test-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 600

test: test-release test-asan

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
	rm -rf $(BUILD) $(ASAN_BUILD)
