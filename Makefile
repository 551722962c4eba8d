# The two commands of the README:
#   make demo   runs the main job (diffsbi demo: two_moons end to end, with an HTML report)
#   make test   runs the test suite (release build: numeric code in debug mode is orders of magnitude slower), then
#               the Python front end's tests against the diffsbi it built
# Both install the system BLAS first if it is missing.

UNAME_S := $(shell uname -s)
UNAME_M := $(shell uname -m)

# Flags go on the command line, never into Package.swift (so the package stays usable by version). The hot kernels
# pick their AVX2+FMA variant at run time (Sources/CKernels), so a plain `swift build -c release` trains and samples
# as fast; on x86-64 Linux with AVX2+FMA these flags only widen the remaining Swift SIMD code (attention softmax,
# Sinkhorn, sampler updates).
FAST_FLAGS :=
ifeq ($(UNAME_S),Linux)
ifeq ($(UNAME_M),x86_64)
ifeq ($(shell grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && echo yes),yes)
FAST_FLAGS := -Xcc -march=x86-64-v3 -Xswiftc -DHAS_FMA
endif
endif
endif
RELEASE := -c release $(FAST_FLAGS)

.PHONY: deps demo test build bench

deps:
	@sh scripts/install-deps.sh

build: deps
	swift build $(RELEASE)

demo: deps
	swift run $(RELEASE) diffsbi demo

# Suites run one after another: several tests compare two runs bit for bit and others change the process-wide
# thread count, so running them side by side would make results depend on scheduling.
test: deps
	bash scripts/check_citations.sh -q
	swift test $(RELEASE) --no-parallel
	DIFFSBI_EXECUTABLE="$$(swift build $(RELEASE) --show-bin-path)/diffsbi" sh scripts/python_tests.sh

bench: deps
	swift run $(RELEASE) diffsbi-bench all
