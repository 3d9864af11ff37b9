#!/usr/bin/env python3
"""Where the syncer's CPU goes: reads `perf script -F comm,ip,sym` output of a DWARF call-graph recording
(bench/run.sh --perf writes OUT/perf-burst.data) and charges every sample to one named cost, printed as a
share of all samples. Each sample goes to the first *specific* cost (a named function anywhere on its stack,
e.g. a JSON parse inside the engine's ownership check), else to the *broad* cost of the frame nearest the
leaf (engine, plugin hooks, informer, HTTP, TLS).

Usage: perf script -i OUT/perf-burst.data -F comm,ip,sym | bench/perf_attrib.py [--top-parse]
"""
import collections
import re
import sys

SPECIFIC = [
    ("plugin read_config: config lookups per hook (core/config Values::find builds a Table per lookup)",
     r"read_config"),
    ("pods plugin index functions (configmaps + secrets: a full parse each)", r"vcp_pods::.*index_refs"),
    ("nodes plugin index function (pods-by-node: a full parse)", r"vcp_nodes::.*index_pod"),
    ("engine owned_target / source_key_of_target (full parse for 3 metadata fields)",
     r"Engine::owned_target|Engine::source_key_of_target"),
    ("plugin on_watch_event (pods, nodes: parse object and old object)", r"on_watch_event"),
    ("engine same_object / same_without_status (tree compare, copies)", r"same_without_status|same_object"),
    ("pods plugin translation (create, update)", r"translate_pod_update|translate_pod_create|translate_config"),
    ("informer make_object on watch events (simdjson parse + minify, again)", r"make_object|from_element"),
]
BROAD = [
    ("plugin hooks: parse source/target, status copy, dump", r"vcp_pods::|vcp_nodes::"),
    ("engine process/step_forward/step_back: parse desired/current, dump",
     r"vc::engine::Engine::|vc::engine::HostApi"),
    ("informer: store, indexes, handlers", r"vc::informer::"),
    ("watch stream decode (simdjson parse + minify)", r"WatchDecoder|Client::watch"),
    ("TLS", r"SSL_|ssl3_|tls1?_|EVP_|aesni|gcm_"),
    ("HTTP client (llhttp, pool, timers)", r"llhttp|vc::http::"),
    ("kube client", r"vc::kube::"),
    ("work queue", r"vc::queue::"),
    ("status server, metrics", r"render_metrics|StatusServer"),
]


def samples(lines):
    cur = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                yield cur
            cur = []
            continue
        if not line[0].isspace():  # "comm" header of a new sample
            if cur:
                yield cur
            cur = []
            continue
        parts = line.strip().split(None, 1)
        sym = parts[1] if len(parts) > 1 else "?"
        cur.append(re.sub(r"\+0x[0-9a-f]+$", "", sym))
    if cur:
        yield cur


def main():
    top_parse = "--top-parse" in sys.argv[1:]
    spec = [(n, re.compile(p)) for n, p in SPECIFIC]
    broad = [(n, re.compile(p)) for n, p in BROAD]
    cost = collections.Counter()
    parse_callers = collections.Counter()
    n = 0
    for s in samples(sys.stdin):
        n += 1
        hit = next((name for name, rx in spec if any(rx.search(f) for f in s)), None)
        if hit is None:
            for f in s:
                hit = next((name for name, rx in broad if rx.search(f)), None)
                if hit:
                    break
        cost[hit or "other (libuv, libc, kernel)"] += 1
        for i, f in enumerate(s):
            if f.startswith("vc::json::parse"):
                j = i + 1
                while j < len(s) and (s[j].startswith("vc::json::parse") or s[j].startswith("std::")):
                    j += 1
                parse_callers[s[j] if j < len(s) else "?"] += 1
                break
    if n == 0:
        print("no samples (give perf script -F comm,ip,sym output of a --call-graph dwarf recording)")
        return 1
    print(f"{n} samples")
    for name, c in cost.most_common():
        print(f"{100.0 * c / n:5.1f}%  {name}")
    total_parse = sum(parse_callers.values())
    print(f"\nvc::json::parse (a full mutable tree), anywhere: {100.0 * total_parse / n:.1f}% of samples")
    if top_parse:
        for k, c in parse_callers.most_common(15):
            print(f"{100.0 * c / n:5.1f}%  called from {k[:140]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
