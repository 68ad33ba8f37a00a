# shellcheck shell=sh disable=SC2034
# tests/lib.sh - the common start of the test scripts that take BUILD_DIR.
# A script sources it first thing (after `set -u`):
#     . "$(dirname "$0")/lib.sh"
# Afterwards: $build is BUILD_DIR as an absolute path (created), the working
# directory is the project root, $py is Debian's python3 (the one with
# python3-protobuf), and these print the lines tests/run.sh counts:
#     pass NAME          PASS: NAME
#     fail NAME WHY      FAIL: NAME: WHY   (and counts it in $fails)
#     info TEXT...       INFO: TEXT
#     need TOOL...       fails "tools" and exits when a command is missing
if [ $# -ne 1 ]; then
    echo "usage: tests/${0##*/} BUILD_DIR" >&2
    exit 2
fi
mkdir -p "$1" || exit 2
build=$(cd "$1" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2
py=/usr/bin/python3
fails=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }
info() { echo "INFO: $*"; }
need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { fail tools "$tool not found"; exit 1; }
    done
}

# Figures of a tests/tap_client.c run whose key=value output is in $T/RUN.out:
#     val RUN KEY        the last value of KEY
#     dropped RUN        the sum of the dropped_* counters
#     expect RUN WHAT CONDITION...   pass/fail on a test(1) condition
val() { sed -n "s/^$2=//p" "$T/$1.out" | tail -n 1; }
dropped() {
    echo $(( $(val "$1" dropped_full) + $(val "$1" dropped_too_big) + $(val "$1" dropped_invalid) + \
             $(val "$1" dropped_disconnected) + $(val "$1" dropped_write_error) ))
}
expect() {
    run=$1 what=$2
    shift 2
    if [ "$@" ]; then pass "$run: $what"; else fail "$run: $what" "got $*"; fi
}
