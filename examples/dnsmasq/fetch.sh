#!/bin/sh
# Fetch Debian's dnsmasq 2.90 source into DIR (default build/dnsmasq) with
# `apt-get source dnsmasq`, adding a deb-src entry for the enabled Debian
# suites when there is none. Prints the path of the unpacked source tree.
# Usage: examples/dnsmasq/fetch.sh [DIR]
set -eu
dir=${1:-build/dnsmasq}
mkdir -p "$dir"
src=$(ls -d "$dir"/dnsmasq-2.90 2>/dev/null || true)
if [ -z "$src" ]; then
    if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        [ "$(id -u)" = 0 ] || { echo "fetch: no deb-src entry in /etc/apt; add one (as root) or run as root" >&2; exit 1; }
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            # deb822 form: the same entries with Types: deb-src
            sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
                awk '/^Types:/{keep=($2=="deb-src")} keep' >/etc/apt/sources.list.d/dnstap-deb-src.sources
        else
            grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | sed 's/^deb /deb-src /' \
                >/etc/apt/sources.list.d/dnstap-deb-src.list
        fi
        apt-get update >/dev/null 2>&1 || apt-get update
    fi
    command -v dpkg-source >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dpkg-dev >/dev/null; }
    (cd "$dir" && apt-get source dnsmasq >apt-source.log 2>&1) || { cat "$dir/apt-source.log" >&2; exit 1; }
    src=$(ls -d "$dir"/dnsmasq-2.90 2>/dev/null) || { echo "fetch: apt-get source did not give dnsmasq 2.90:" $(ls "$dir") >&2; exit 1; }
fi
echo "$src"
