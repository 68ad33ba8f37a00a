#!/usr/bin/env python3
"""Worst-case stack depth of functions, from GCC's -fcallgraph-info=su.

Usage: stack_graph.py FILE.ci FUNCTION... [--external NAME=BYTES ...] [--path]

Reads the call graph GCC writes with -fstack-usage -fcallgraph-info=su
(one translation unit holding the whole implementation), and prints for
each FUNCTION one line:
    FUNCTION BYTES calls: a > b > c   [indirect] [external: memcpy ...]
BYTES is the deepest chain of static frames from FUNCTION down. Calls
through pointers (transport, logger and extra callbacks: the caller's
code) count as 0 and are flagged "indirect". Calls to functions outside
the unit (memcpy, memset, libgcc helpers) count as the bytes given with
--external NAME=BYTES (default 0) and are listed. Fails (exit 1) on
recursion, or on a frame that is not static (alloca, VLAs)."""
import re
import sys


def parse(path):
    nodes, edges = {}, {}
    node_re = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
    edge_re = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
    with open(path) as f:
        for line in f:
            m = node_re.search(line)
            if m:
                title, label = m.group(1), m.group(2)
                parts = label.split("\\n")
                size, kind = None, None
                if len(parts) >= 3:
                    sm = re.match(r"(\d+) bytes \(([^)]*)\)", parts[2])
                    if sm:
                        size, kind = int(sm.group(1)), sm.group(2)
                nodes[title] = (parts[0], size, kind)
                edges.setdefault(title, [])
                continue
            m = edge_re.search(line)
            if m:
                edges.setdefault(m.group(1), []).append(m.group(2))
    return nodes, edges


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    opts = [a for a in argv if a.startswith("--")]
    external = {}
    for o in opts:
        if o.startswith("--external="):
            for kv in o[len("--external="):].split(","):
                k, v = kv.split("=")
                external[k] = int(v)
    if len(args) < 2:
        sys.stderr.write(__doc__)
        return 2
    nodes, edges = parse(args[0])
    by_name = {}
    for title, (name, size, kind) in nodes.items():
        if size is not None:
            by_name[name] = title
    memo = {}
    problems = []

    def depth(title, stack):
        if title in memo:
            return memo[title]
        if title in stack:
            problems.append("recursion: " + " > ".join(nodes[t][0] for t in stack + [title]))
            return (0, [], set(), set())
        name, size, kind = nodes.get(title, (title, None, None))
        if title == "__indirect_call":
            return (0, [], {"indirect"}, set())
        if size is None:    # outside this unit
            name = name.replace("__builtin_", "")
            return (external.get(name, 0), [name], set(), {name})
        if kind != "static":
            problems.append("%s: frame is %s" % (name, kind))
        best = (0, [], set(), set())
        flags, exts = set(), set()
        for callee in sorted(set(edges.get(title, []))):
            d = depth(callee, stack + [title])
            flags |= d[2]
            exts |= d[3]
            if d[0] > best[0]:
                best = d
        result = (size + best[0], [name] + best[1], flags, exts)
        memo[title] = result
        return result

    for fn in args[1:]:
        if fn not in by_name:
            print("%s ? not in %s" % (fn, args[0]))
            problems.append(fn + " not found")
            continue
        total, path, flags, exts = depth(by_name[fn], [])
        extra = ""
        if flags:
            extra += " [indirect calls: callbacks not counted]"
        if exts:
            extra += " [external: %s]" % " ".join(
                "%s=%d" % (e, external.get(e, 0)) for e in sorted(exts))
        print("%s %d calls: %s%s" % (fn, total, " > ".join(path), extra))
    for p in problems:
        print("problem: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
