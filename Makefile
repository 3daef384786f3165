# Halong: the user's door. `make demo` and `make test` work on a fresh Debian 12 as root.
#   make deps    install the Debian packages the build needs (only those missing)
#   make build   configure and build (build/)
#   make test    deps + build + ctest
#   make demo    collector on ./var + agent replaying the bundled pcap and log
#   make bench   build and run the benchmarks (bench/)
#   make fuzz    build the libFuzzer targets with clang (build-fuzz/)
#   make package build the halong-agent and halong-collector .deb packages

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?=

# Debian packages: build dependencies and the tools the tests use.
DEB_PACKAGES = build-essential cmake pkg-config ccache git \
  libpcap-dev libhyperscan-dev libboost1.81-all-dev libssl-dev librocksdb-dev \
  libspdlog-dev catch2 libyaml-cpp-dev libcli11-dev libpcre2-dev libargon2-dev \
  libsystemd-dev libbenchmark-dev curl openssl iproute2 ripgrep python3 \
  systemd-journal-remote chromium

.PHONY: all deps build test demo bench fuzz package clean distclean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get) to install:$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else echo "make deps: all Debian packages present"; fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

demo: build
	./scripts/demo.sh $(BUILD_DIR)

bench: deps
	cmake -S . -B $(BUILD_DIR)-bench -DCMAKE_BUILD_TYPE=Release -DHALONG_BENCH=ON -DHALONG_TESTS=OFF
	cmake --build $(BUILD_DIR)-bench -j $(JOBS)
	./scripts/bench.sh $(BUILD_DIR)-bench

package: build
	cd $(BUILD_DIR) && cpack -G DEB

fuzz: deps
	@command -v clang++ >/dev/null || (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q clang libclang-rt-14-dev)
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_DIR)-fuzz -DHALONG_FUZZ=ON -DHALONG_TESTS=OFF
	cmake --build $(BUILD_DIR)-fuzz -j $(JOBS) --target fuzzers

clean:
	rm -rf $(BUILD_DIR)

distclean: clean
	rm -rf $(BUILD_DIR)-bench $(BUILD_DIR)-fuzz var
