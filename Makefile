# dnstap.h - build, test, demo, benchmark.
#   make         build the examples and the tests
#   make demo    a DNS forwarder taps real queries on loopback; prints the decoded log
#   make test    run every test; ends with "N passed, N failed"
#   make regen   regenerate the nanopb block in dnstap.h from dnstap.proto
#   make bench   instructions and time per message against nanopb, protobuf-c + libfstrm;
#                dtap against golang-dnstap's dnstap (size, RSS, read speed)
#   make fuzz    run each fuzz target for FUZZ_SECONDS (default 60)
#   make size    code size (Cortex-M4, rv32imac, hosts), RAM and stack: the README's figures
#   make matrix  the full build matrix (make test runs the quick one)
#   make install the header, dnstap.proto, pkg-config and CMake files, the tool;
#                PREFIX (/usr/local) and DESTDIR as usual; make uninstall
# Missing Debian packages are installed by tests/deps.sh (apt-get, as root).

B      := build
CC     ?= cc
WARN   := -std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow \
          -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes
LIBS   := -lprotobuf-nanopb
SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all
HDR    := dnstap.h

EXAMPLES := $(B)/sample_file $(B)/forwarder $(B)/capture $(B)/reader $(B)/dtap
TESTS    := $(B)/test_unit_asan $(B)/test_unit_gcc $(B)/test_unit_cxx $(B)/test_unit_small \
            $(B)/test_tap_asan $(B)/test_tap_allocs $(B)/test_tap_tsan $(B)/test_tap_cap

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^\#define DNSTAP_VERSION_STRING "\(.*\)"$$/\1/p' $(HDR))

.PHONY: all deps test demo regen bench fuzz size matrix clean install uninstall
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
# the command-line tool: capture.c's receiver and reader.c's printer, with TLS
$(B)/dtap: examples/dtap.c examples/capture.c examples/reader.c $(HDR) | $(B)
	$(CC) $(WARN) -Os -DDNSTAP_WITH_MBEDTLS -I. $< -o $@ $(LIBS) -lmbedtls -lmbedx509 -lmbedcrypto -pthread
# the forwarder encodes only: no nanopb runtime linked
$(B)/forwarder: examples/forwarder.c $(HDR) | $(B)
	$(CC) $(WARN) -Os -DDNSTAP_WITH_MBEDTLS -I. $< -o $@ -lmbedtls -lmbedx509 -lmbedcrypto

$(B)/test_unit_asan: tests/test_unit.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 $(SAN) -I. $< -o $@ $(LIBS)
$(B)/test_unit_gcc: tests/test_unit.c tests/test.h tests/hostile.h $(HDR) | $(B)
	gcc $(WARN) -O2 -I. $< -o $@ $(LIBS)
$(B)/test_unit_cxx: tests/test_unit.c tests/test.h tests/hostile.h $(HDR) | $(B)
	g++ -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -O1 -I. $< -o $@ $(LIBS)

# the table-driven encoder for firmware: the same bytes and answers
$(B)/test_unit_small: tests/test_unit.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 $(SAN) -DDNSTAP_SMALL_ENCODER=1 -I. $< -o $@ $(LIBS)

$(B)/test_tap_asan: tests/test_tap.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 $(SAN) -I. $< -o $@ $(LIBS) -pthread
# gcc -O2, allocations counted through the linker's --wrap (not with ASan)
$(B)/test_tap_allocs: tests/test_tap.c tests/test.h tests/hostile.h $(HDR) | $(B)
	gcc $(WARN) -O2 -DCOUNT_ALLOCS -I. $< -o $@ $(LIBS) -pthread \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
$(B)/test_tap_tsan: tests/test_tap.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 -fsanitize=thread -I. $< -o $@ $(LIBS) -pthread
# writes capped at 1,000 bytes instead of 1 GiB: the cap reached with small queues
$(B)/test_tap_cap: tests/test_tap.c tests/test.h tests/hostile.h $(HDR) | $(B)
	clang $(WARN) -g -O1 $(SAN) -DDNSTAP__WRITE_MAX=1000u -I. $< -o $@ $(LIBS) -pthread

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
	@$(MAKE) --no-print-directory $(B)/dtap
	tests/dtap_bench.sh $(B) >$(B)/dtap_bench.md
	@cat $(B)/dtap_bench.md
	@tests/readme_block.sh write dtap-bench $(B)/dtap_bench.md

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

# Header-only: everything but the tool is architecture-independent, so the
# pkg-config and CMake files go under share/. The CMake package finds the
# header relative to itself (PREFIX/share/cmake/dnstap -> PREFIX/include).
INSTALL_FILES := bin/dtap include/dnstap.h share/dnstap/dnstap.proto share/pkgconfig/dnstap.pc \
                 share/pkgconfig/dnstap-mbedtls.pc share/cmake/dnstap/dnstapConfig.cmake \
                 share/cmake/dnstap/dnstapConfigVersion.cmake
# paths are quoted: PREFIX and DESTDIR may hold spaces (the .pc files escape them)
DEST := $(DESTDIR)$(PREFIX)
empty :=
PC_PREFIX := $(subst $(empty) $(empty),\ ,$(PREFIX))
install: $(B)/dtap
	@test -n "$(VERSION)" || { echo "install: no DNSTAP_VERSION_STRING in $(HDR)" >&2; exit 1; }
	install -d "$(DEST)/bin" "$(DEST)/include" "$(DEST)/share/dnstap" "$(DEST)/share/pkgconfig" "$(DEST)/share/cmake/dnstap"
	install -m 755 $(B)/dtap "$(DEST)/bin/dtap"
	install -m 644 $(HDR) "$(DEST)/include/dnstap.h"
	install -m 644 dnstap.proto "$(DEST)/share/dnstap/dnstap.proto"
	install -m 644 cmake/dnstapConfig.cmake cmake/dnstapConfigVersion.cmake "$(DEST)/share/cmake/dnstap/"
	printf '%s\n' 'prefix=$(PC_PREFIX)' 'includedir=$${prefix}/include' '' 'Name: dnstap' \
	    'Description: dnstap logging for DNS servers (single-header C library; define DNSTAP_IMPLEMENTATION in one file)' \
	    'Version: $(VERSION)' 'Cflags: -I$${includedir}' 'Libs: -lprotobuf-nanopb' \
	    >"$(DEST)/share/pkgconfig/dnstap.pc"
	printf '%s\n' 'prefix=$(PC_PREFIX)' '' 'Name: dnstap-mbedtls' \
	    'Description: dnstap.h with its tls:// transport (DNSTAP_WITH_MBEDTLS), through Mbed TLS' \
	    'Version: $(VERSION)' 'Requires: dnstap = $(VERSION)' 'Cflags: -DDNSTAP_WITH_MBEDTLS' \
	    'Libs: -lmbedtls -lmbedx509 -lmbedcrypto' \
	    >"$(DEST)/share/pkgconfig/dnstap-mbedtls.pc"

uninstall:
	for f in $(INSTALL_FILES); do rm -f "$(DEST)/$$f"; done
	-rmdir "$(DEST)/share/dnstap" "$(DEST)/share/cmake/dnstap" 2>/dev/null

clean:
	rm -rf $(B)
