# dnstap.h - build, test, demo, benchmark.
#   make         build the examples and the tests
#   make demo    a DNS forwarder taps real queries on loopback; prints the decoded log
#   make test    run every test; ends with "N passed, N failed"
#   make regen   regenerate the nanopb block in dnstap.h from dnstap.proto
#   make bench   instructions and time per message against nanopb, protobuf-c + libfstrm
#   make fuzz    run each fuzz target for FUZZ_SECONDS (default 60)
#   make size    code size (Cortex-M4, rv32imac, hosts), RAM and stack: the README's figures
#   make matrix  the full build matrix (make test runs the quick one)
# Missing Debian packages are installed by tests/deps.sh (apt-get, as root).

B      := build
CC     ?= cc
WARN   := -std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow \
          -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes
LIBS   := -lprotobuf-nanopb
SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all
HDR    := dnstap.h

EXAMPLES := $(B)/sample_file $(B)/forwarder $(B)/capture $(B)/reader
TESTS    := $(B)/test_unit_asan $(B)/test_unit_gcc $(B)/test_unit_cxx \
            $(B)/test_tap_asan $(B)/test_tap_allocs $(B)/test_tap_tsan

.PHONY: all deps test demo regen bench fuzz size matrix clean
all: deps $(EXAMPLES) $(TESTS)

deps:
	@tests/deps.sh build

$(B):
	@mkdir -p $(B)

$(B)/sample_file: examples/sample_file.c $(HDR) | $(B)
	$(CC) $(WARN) -O2 -I. $< -o $@ $(LIBS)
$(B)/capture: examples/capture.c $(HDR) | $(B)
	$(CC) $(WARN) -Os -DDNSTAP_WITH_MBEDTLS -I. $< -o $@ $(LIBS) -lmbedtls -lmbedx509 -lmbedcrypto
$(B)/reader: examples/reader.c $(HDR) | $(B)
	$(CC) $(WARN) -Os -I. $< -o $@ $(LIBS)
# the forwarder encodes only: no nanopb runtime linked
$(B)/forwarder: examples/forwarder.c $(HDR) | $(B)
	$(CC) $(WARN) -Os -DDNSTAP_WITH_MBEDTLS -I. $< -o $@ -lmbedtls -lmbedx509 -lmbedcrypto

$(B)/test_unit_asan: tests/test_unit.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 $(SAN) -I. $< -o $@ $(LIBS)
$(B)/test_unit_gcc: tests/test_unit.c tests/test.h tests/hostile.h $(HDR) | $(B)
	gcc $(WARN) -O2 -I. $< -o $@ $(LIBS)
$(B)/test_unit_cxx: tests/test_unit.c tests/test.h tests/hostile.h $(HDR) | $(B)
	g++ -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -O1 -I. $< -o $@ $(LIBS)

$(B)/test_tap_asan: tests/test_tap.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 $(SAN) -I. $< -o $@ $(LIBS) -pthread
# gcc -O2, allocations counted through the linker's --wrap (not with ASan)
$(B)/test_tap_allocs: tests/test_tap.c tests/test.h tests/hostile.h $(HDR) | $(B)
	gcc $(WARN) -O2 -DCOUNT_ALLOCS -I. $< -o $@ $(LIBS) -pthread \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
$(B)/test_tap_tsan: tests/test_tap.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 -fsanitize=thread -I. $< -o $@ $(LIBS) -pthread

test:
	@tests/deps.sh test
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(B)

demo:
	@tests/deps.sh demo
	@tests/demo.sh $(B)

regen:
	@tests/deps.sh build
	tests/regen.sh

# the tables also go into the README's bench block
bench:
	@tests/deps.sh bench
	tests/bench.sh $(B) >$(B)/bench.md
	@cat $(B)/bench.md
	@tests/readme_block.sh write bench $(B)/bench.md

size:
	@tests/deps.sh test
	@tests/matrix_deps.sh $(B) >/dev/null
	@tests/size.sh $(B)
	@tests/stack.sh $(B)

matrix:
	@tests/deps.sh test
	tests/matrix.sh $(B) full

FUZZ_SECONDS ?= 60
fuzz:
	@tests/deps.sh fuzz
	fuzz/run.sh $(B) $(FUZZ_SECONDS)

clean:
	rm -rf $(B)
