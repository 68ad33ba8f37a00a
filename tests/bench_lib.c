/* bench_lib.c - the dnstap.h implementation for the bench, in its own
   translation unit so that the bench calls it as an application would
   (no inlining into the timing loop). With the optional writer thread,
   which the end-to-end runs (bench_live.c) use. */
#define DNSTAP_IMPLEMENTATION
#define DNSTAP_WITH_THREAD
#include "dnstap.h"
