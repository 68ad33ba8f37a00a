/* bench_lib.c - the dnstap.h implementation for the bench, in its own
   translation unit so that the bench calls it as an application would
   (no inlining into the timing loop). */
#define DNSTAP_IMPLEMENTATION
#include "dnstap.h"
