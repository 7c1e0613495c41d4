# The two README commands: `make run` and `make test`. Everything they need is installed here.
JOBS        ?= 2
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 20
SEGMENT     ?= progressista

# Debian 12 packages the build and the tests need (libboost1.81-dev, never libboost-all-dev:
# that one is 1.74 and would remove 1.81).
APT_PACKAGES := g++ make cmake pkgconf clang libclang-rt-14-dev \
  libboost1.81-dev libsimdjson-dev libfmt-dev libcli11-dev libsystemd-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev openssl \
  nginx nginx-dev systemd systemd-container dpkg-dev file chromium nodejs tmux \
  redis-server libhiredis-dev
# The browser test also needs npm. It is not in the list above: the machines' Node.js (20, from
# NodeSource) bundles npm and conflicts with Debian's `npm` package, so browser-deps installs
# Debian's npm only where no `npm` command exists (a Debian-only Node.js).

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CTEST_FLAGS := --output-on-failure --timeout 600

.PHONY: deps browser-deps build build-asan build-bench build-fuzz run test test-release test-asan test-fuzz bench bench-http bench-fanout bench-socketio bench-dashboard clean

deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "all build packages present"; fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPROGRESSISTA_SANITIZE=ON -DPROGRESSISTA_BENCH=OFF

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPROGRESSISTA_FUZZ=ON -DPROGRESSISTA_TESTS=OFF -DPROGRESSISTA_BENCH=OFF \
	  -DPROGRESSISTA_FUZZ_SECONDS=$(FUZZ_SECONDS)

build-fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets

# The main job: ingest, live updates and the dashboard on http://127.0.0.1:8000/.
run: build
	./$(BUILD)/daemon/progressista serve --segment $(SEGMENT)

# playwright-core for the browser test (tests/browser), pinned by its package-lock.json;
# reinstalled only when node_modules is missing or older than the lock file.
BROWSER_DIR := tests/browser
browser-deps: deps
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	@if [ ! -d $(BROWSER_DIR)/node_modules ] || \
	    [ $(BROWSER_DIR)/package-lock.json -nt $(BROWSER_DIR)/node_modules/.package-lock.json ]; then \
	  npm ci --prefix $(BROWSER_DIR) --no-audit --no-fund; \
	else echo "browser test packages present"; fi

test-release: build browser-deps
	cd $(BUILD) && ctest $(CTEST_FLAGS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS)

test-fuzz: build-fuzz
	cd $(FUZZ_BUILD) && ctest $(CTEST_FLAGS)

# Every test: release build, sanitizer build, bounded fuzzing.
test: test-release test-asan test-fuzz

# The benchmarks are not part of `build` (nor of `make test`); every bench target builds them.
build-bench: build
	cmake --build $(BUILD) -j $(JOBS) --target benches

bench: build-bench
	$(BUILD)/bench/store_bench --benchmark_counters_tabular=true

# HTTP load on `progressista ingest` beside nginx's `return 204` (installs wrk and nginx when
# absent); DURATION=, CONNECTIONS=, ... as in bench/http/run.sh. Figures: bench/http/README.md.
bench-http: build-bench
	PROGRESSISTA=$(BUILD)/daemon/progressista bench/http/run.sh

# The broadcaster's fan-out: WebSocket clients x events/s against `progressista serve`;
# DURATION=, SCENARIOS=, ... as in bench/fanout/run.sh. Figures: bench/README.md.
bench-fanout: build-bench
	PROGRESSISTA=$(BUILD)/daemon/progressista FANOUT_BENCH=$(BUILD)/bench/fanout_bench \
	  bench/fanout/run.sh

# Socket.IO rooms beside the delta protocol, same run: CLIENTS= sockets in ROOMS= rooms, RATE=
# events/s for DURATION= s (1000, 10, 1000, 10); needs node and browser-deps. bench/README.md.
bench-socketio: build browser-deps
	PROGRESSISTA=$(BUILD)/daemon/progressista bench/socketio/run.sh

# The dashboard in headless Chromium at TASKS= ("10000 100000") with RATE= (1000) events/s for
# SECONDS= (10), in VIEWS= ("cards table"): fps, frame p95, POST -> card/row latency, heap.
# Figures: bench/README.md.
bench-dashboard: build browser-deps
	PROGRESSISTA_BIN=$(BUILD)/daemon/progressista node bench/dashboard/run.mjs

# Notification latency, the POST that fails a task -> a webhook receiver on loopback:
# NOTIFY_N= (500) transitions, memory outbox then file outbox. Figures: bench/README.md.
NOTIFY_N ?= 500
.PHONY: bench-notify
bench-notify: build-bench
	$(BUILD)/bench/notify_bench $(NOTIFY_N)
	$(BUILD)/bench/notify_bench $(NOTIFY_N) --outbox

# kill -9 at random under load for CHAOS_MINUTES (3): acknowledged vs stored, client gaps,
# restarts, lock recoveries; exits non-zero when an acknowledged event was lost. bench/README.md.
CHAOS_MINUTES ?= 3
SOAK_MINUTES ?= 10
.PHONY: bench-chaos bench-soak
bench-chaos: build-bench
	PROGRESSISTA=$(BUILD)/daemon/progressista bench/chaos/run.sh --minutes $(CHAOS_MINUTES)

# SOAK_MINUTES (10) of steady mixed load: RSS, fds, p99, tick every 30 s and the drift.
bench-soak: build-bench
	PROGRESSISTA=$(BUILD)/daemon/progressista bench/soak/run.sh --minutes $(SOAK_MINUTES)

# Redis Streams federation (issue 16): events/s through one node without and with --redis,
# POST on one node -> frame on another, 2 and 3 nodes posting at once, Redis's CPU per event;
# its own redis-server and nodes on loopback. DURATION=, NODES=, ... as in
# bench/federation/run.sh. Figures: bench/README.md.
.PHONY: bench-federation
bench-federation: build
	cmake -S bench/federation -B $(BUILD)/bench-federation -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD)/bench-federation -j $(JOBS)
	PROGRESSISTA=$(BUILD)/daemon/progressista \
	  FEDERATION_BENCH=$(BUILD)/bench-federation/federation_bench bench/federation/run.sh

# `progressista pipe` against `cat` in one run: SIZE_GIB= (4) GiB per run, ROUNDS= (3) each,
# GB/s and the ratio, also --lines. Figures: bench/README.md.
.PHONY: bench-pipe
bench-pipe: build
	PROGRESSISTA=$(BUILD)/daemon/progressista bench/pipe/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
