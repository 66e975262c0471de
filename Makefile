# The two commands a newcomer needs; everything else is Meson's.
#   make demo    build, then run the demo program
#   make check   build, then run every test, a line for each as it ends
#   make bench   build, then run the benchmarks (BENCH_JSON=FILE: one JSON
#                line per figure appended to FILE; BENCH_ARGS=--quick:
#                smaller sizes, fewer repetitions)
# Each first installs the build's missing packages (tools/bootstrap.sh:
# apt-get as root, else it prints the command to run).
# Sanitizer runs: make check-asan (AddressSanitizer+UBSan), make check-tsan.

BUILD      ?= build
MESON      ?= meson
NPROC      ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all demo check bench check-asan check-tsan clean

# tools/bootstrap.sh runs before a build directory is configured, and
# again only if meson or ninja has gone since: two lookups when all is here.
all: $(BUILD)/build.ninja
	@command -v $(firstword $(MESON)) >/dev/null 2>&1 && \
	  command -v ninja >/dev/null 2>&1 || tools/bootstrap.sh
	$(MESON) compile -C $(BUILD)

$(BUILD)/build.ninja:
	tools/bootstrap.sh
	$(MESON) setup $(BUILD) $(MESON_SETUP_ARGS)

demo: all
	./$(BUILD)/tools/uhmm-demo

# Meson prints a line for each test program as it ends and the logs of
# the failed ones (every log: $(BUILD)/meson-logs/testlog.txt); the last
# line is the count of test cases, "N passed, N failed".
check: all
	$(MESON) test -C $(BUILD) --num-processes $(NPROC) --print-errorlogs; \
	  python3 tests/summary.py $(BUILD)/meson-logs/testlog.json

BENCH_JSON ?= $(BUILD)/bench.json
BENCH_ARGS ?=
BENCH_RUN   = --json $(BENCH_JSON) $(BENCH_ARGS)

bench: all
	./$(BUILD)/bench/hmm_snapshot $(BENCH_RUN)
	./$(BUILD)/bench/hmm_fault $(BENCH_RUN)
	./$(BUILD)/bench/dmirror_fault $(BENCH_RUN)
	./$(BUILD)/bench/cpu_fault $(BENCH_RUN)
	./$(BUILD)/bench/cpu_fault --block 1 $(BENCH_RUN)
	./$(BUILD)/bench/uffd_fault $(BENCH_RUN)
	./$(BUILD)/bench/uffd_fault --block 1 $(BENCH_RUN)
	./$(BUILD)/bench/migrate $(BENCH_RUN)
	./$(BUILD)/bench/devmem_fault $(BENCH_RUN)
	./$(BUILD)/bench/notifier_munmap $(BENCH_RUN)
	./$(BUILD)/bench/scaling $(BENCH_RUN)
	@echo "figures appended to $(BENCH_JSON)"

check-asan:
	$(MAKE) check BUILD=build-asan \
	  MESON_SETUP_ARGS="-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"

check-tsan:
	$(MAKE) check BUILD=build-tsan \
	  MESON_SETUP_ARGS="-Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug"

clean:
	rm -rf build build-asan build-tsan
