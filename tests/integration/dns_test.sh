#!/usr/bin/env bash
# vcluster-dns (core/dns) end to end with dig against a real host control plane (tests/bed/cluster; no node
# is needed: the Services and selector-less Endpoints are created through the API): every record kind of
# the Kubernetes DNS specification (A, AAAA, headless, endpoint hostnames, SRV, ExternalName CNAME, PTR,
# pod names), NXDOMAIN vs NODATA with the SOA, the TTLs, case-insensitivity, another cluster domain, live
# updates, truncation over UDP and the full answer over TCP, forwarding through a loopback upstream (a
# second vcluster-dns with another domain; its cache and its failure), --upstream none, --resolv-conf, no
# forwarding to itself, SERVFAIL before the caches are synced, CNAME loops, TCP pipelining and limits, and
# junk that must not hurt the server.
#
# With SYNCER and PLUGIN (a plugin that watches no Service, e.g. the cmsync test plugin), the same server on the
# syncer's loop too (--dns-address): the virtual cluster's Services from the engine's caches, live.
#
# Usage: dns_test.sh VCLUSTER_DNS [SYNCER PLUGIN]
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DNS=$1
SYNCER=${2:-}
SYNCER_PLUGIN=${3:-}
NS=dnstest
command -v dig >/dev/null || { not_ok "dig is missing (Debian bind9-dnsutils: scripts/apt-deps.sh)"; summary; exit 1; }

start_cluster host host
# shellcheck disable=SC2154 # KC_host is set by start_cluster (printf -v)
hk() { kubectl --kubeconfig "$KC_host" "$@"; }
hk create namespace "$NS" >/dev/null

# ---- the objects ------------------------------------------------------------------------------------
# web: ClusterIP with named ports (http/TCP, dns/UDP) and one unnamed; db: headless, selector-less, with
# Endpoints holding hostnames, an address without one, an IPv6 address and a not-ready address; pnr: headless
# with publishNotReadyAddresses; ext: ExternalName outside the zone; alias: ExternalName to web's name;
# fwd: ExternalName to a name of the upstream's domain; self: an ExternalName naming itself; big: headless
# with 300 ready addresses.
BIG=300
{
  cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $NS}
spec:
  ports:
  - {name: http, port: 80, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
  - {name: metrics, port: 9090, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: $NS}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: $NS}
subsets:
- addresses:
  - {ip: 192.0.2.1, hostname: db-0}
  - {ip: 192.0.2.2, hostname: db-1}
  - {ip: 192.0.2.3}
  - {ip: "2001:db8::7", hostname: db-6}
  notReadyAddresses:
  - {ip: 192.0.2.9, hostname: db-9}
  ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: pnr, namespace: $NS}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  ports: [{name: x, port: 1, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: pnr, namespace: $NS}
subsets:
- notReadyAddresses: [{ip: 192.0.2.20}]
  ports: [{name: x, port: 1, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: $NS}
spec: {type: ExternalName, externalName: db.example.test}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: $NS}
spec: {type: ExternalName, externalName: web.$NS.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: fwd, namespace: $NS}
spec: {type: ExternalName, externalName: web.$NS.svc.upstream.test}
---
apiVersion: v1
kind: Service
metadata: {name: self, namespace: $NS}
spec: {type: ExternalName, externalName: self.$NS.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: big, namespace: $NS}
spec:
  clusterIP: None
  ports: [{name: p, port: 7, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: big, namespace: $NS}
subsets:
- ports: [{name: p, port: 7, protocol: TCP}]
  addresses:
YAML
  for i in $(seq 1 $BIG); do echo "  - {ip: 198.18.$((i / 256)).$((i % 256))}"; done
} >"$WORK/objects.yaml"
check "the test's Services and Endpoints are created" bash -c "kubectl --kubeconfig '$KC_host' apply -f '$WORK/objects.yaml' >/dev/null"
WEB_IP=$(hk -n "$NS" get service web -o jsonpath='{.spec.clusterIP}')

# ---- the servers ------------------------------------------------------------------------------------
# UP: the upstream, another domain, nothing to forward to. MAIN: cluster.local, forwarding to UP.
# NONE: cluster.local with --upstream none.
# start_dns NAME ARGS...: starts vcluster-dns on a free loopback port; sets PORT_<NAME>.
start_dns() {
  local name=$1 port
  shift
  port=$(free_port)
  start_bg "$WORK/dns-$name.log" "$DNS" --address "127.0.0.1:$port" --kubeconfig "$KC_host" "$@"
  printf -v "PORT_$name" '%s' "$port"
  printf -v "PID_$name" '%s' "$LAST_PID"
  poll 30 "grep -qs 'caches synced' '$WORK/dns-$name.log'" || {
    not_ok "vcluster-dns $name did not sync its caches: $(tail -3 "$WORK/dns-$name.log")"
    return 1
  }
}
check "vcluster-dns (upstream.test domain, no upstream) syncs" start_dns UP --domain upstream.test --upstream none
# shellcheck disable=SC2154 # PORT_* are set by start_dns
check "vcluster-dns (cluster.local, forwarding to the first) syncs" start_dns MAIN --upstream "127.0.0.1:$PORT_UP"
check "vcluster-dns (--upstream none) syncs" start_dns NONE --upstream none
P=$PORT_MAIN

# d [@PORT] ARGS...: dig against MAIN (or the port given), one try, 2 s.
d() {
  local port=$P
  if [[ ${1:-} == @* ]]; then port=${1#@}; shift; fi
  dig @127.0.0.1 -p "$port" +time=2 +tries=1 "$@" 2>&1
}
# short NAME TYPE [ARGS]: the answers' data, sorted.
short() { d "$@" +short | sort; }
# status NAME TYPE [ARGS]: the rcode (NOERROR, NXDOMAIN, ...).
status() { d "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
# section NAME TYPE WHICH [ARGS]: the records of a section (answer, authority, additional) as
# "owner ttl class type data".
section() {
  local at=()
  if [[ $1 == @* ]]; then at=("$1"); shift; fi
  local n=$1 t=$2 s=$3
  shift 3
  d "${at[@]}" "$n" "$t" "$@" +noall "+$s" | awk '!/^;/ && NF' | tr -s ' \t' ' '
}
# flags NAME TYPE [ARGS]: the header flags, space separated.
flags() { d "$@" | sed -n 's/.*flags: \([a-z ]*\);.*/\1/p'; }
has_flag() { local f=$1; shift; [[ " $(flags "$@") " == *" $f "* ]]; }
lacks_flag() { ! has_flag "$@"; }
Z=cluster.local
S=$NS.svc.$Z

# Before its first list the zone is not the cluster: its names are SERVFAIL (an NXDOMAIN would be cached by
# the clients), not NXDOMAIN. An API server that does not answer keeps vcluster-dns there.
sed -E 's#server: https://127\.0\.0\.1:[0-9]+#server: https://127.0.0.1:9#' "$KC_host" >"$WORK/unreachable.kubeconfig"
UNSYNCED=$(free_port)
start_bg "$WORK/dns-UNSYNCED.log" "$DNS" --address "127.0.0.1:$UNSYNCED" --kubeconfig "$WORK/unreachable.kubeconfig" --upstream none
PID_UNSYNCED=$LAST_PID
check "before its caches are synced vcluster-dns answers the zone's names SERVFAIL" \
  poll 10 equals SERVFAIL -- status "@$UNSYNCED" "kubernetes.default.svc.cluster.local" A
check "SIGTERM stops it (exit 0)" stop_pid "$PID_UNSYNCED"

# ---- A, AAAA, TTL -------------------------------------------------------------------------------------
check "A of a ClusterIP Service is its ClusterIP ($WEB_IP)" equals "$WEB_IP" -- short "web.$S" A
check "the answer is authoritative (aa)" has_flag aa "web.$S" A
check "positive records have TTL 30" equals "web.$S. 30 IN A $WEB_IP" -- section "web.$S" A answer
# Dual-stack: an IPv6 ClusterIP only when the API server allocates one (the bed's v1.20 has IPv6DualStack off
# and silently drops ipFamilyPolicy, so the Service is created IPv4-only).
cat <<YAML | hk create -f - >/dev/null 2>&1
apiVersion: v1
kind: Service
metadata: {name: dual, namespace: $NS}
spec: {ipFamilyPolicy: PreferDualStack, ipFamilies: [IPv4, IPv6], ports: [{port: 80}]}
YAML
v6=$(hk -n "$NS" get service dual -o jsonpath='{range .spec.clusterIPs[*]}{@}{"\n"}{end}' 2>/dev/null | grep : | head -1)
if [ -n "$v6" ]; then
  check "AAAA of a dual-stack Service is its IPv6 ClusterIP ($v6)" equals "$v6" -- short "dual.$S" AAAA
  check "and A its IPv4 one" equals "$(hk -n "$NS" get service dual -o jsonpath='{.spec.clusterIP}')" -- short "dual.$S" A
else
  echo "# skip: the bed's API server is not dual-stack (v1.20, IPv6DualStack off): no IPv6 ClusterIP to ask AAAA of" \
    "(AAAA is checked below on a headless IPv6 endpoint, an endpoint hostname and a pod name)"
fi
check "AAAA of an IPv4-only Service is NODATA (NOERROR, no answer)" \
  bash -c "[ \"\$(dig @127.0.0.1 -p $P +time=2 +tries=1 web.$S AAAA | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')\" = NOERROR ] && [ -z \"\$(dig @127.0.0.1 -p $P +time=2 +tries=1 +short web.$S AAAA)\" ]"

# ---- headless ---------------------------------------------------------------------------------------
check "headless: A are the ready endpoint IPs (not the not-ready one)" \
  equals "$(printf '192.0.2.1\n192.0.2.2\n192.0.2.3')" -- short "db.$S" A
check "headless: AAAA is the ready IPv6 endpoint" equals "2001:db8::7" -- short "db.$S" AAAA
check "headless with publishNotReadyAddresses: the not-ready address is served" equals 192.0.2.20 -- short "pnr.$S" A
check "<hostname>.<svc>.<ns>.svc: db-0 is 192.0.2.1" equals 192.0.2.1 -- short "db-0.db.$S" A
check "<hostname>.<svc>.<ns>.svc: db-1 is 192.0.2.2" equals 192.0.2.2 -- short "db-1.db.$S" A
check "<hostname>.<svc>.<ns>.svc: AAAA of db-6 is 2001:db8::7" equals 2001:db8::7 -- short "db-6.db.$S" AAAA
check "an endpoint without hostname is named by its dashed IP (192-0-2-3)" equals 192.0.2.3 -- short "192-0-2-3.db.$S" A
check "a not-ready endpoint's hostname (db-9) is NXDOMAIN" equals NXDOMAIN -- status "db-9.db.$S" A
check "an unknown hostname of the Service is NXDOMAIN" equals NXDOMAIN -- status "db-5.db.$S" A

# ---- SRV ---------------------------------------------------------------------------------------------
check "SRV _http._tcp of a ClusterIP Service names the Service, port 80" \
  equals "0 100 80 web.$S." -- short "_http._tcp.web.$S" SRV
check "SRV _dns._udp of a ClusterIP Service: port 53" equals "0 100 53 web.$S." -- short "_dns._udp.web.$S" SRV
check "SRV with the wrong protocol (_http._udp) is NXDOMAIN" equals NXDOMAIN -- status "_http._udp.web.$S" SRV
check "SRV of the ClusterIP Service carries its A in the additional section" \
  equals "web.$S. 30 IN A $WEB_IP" -- section "_http._tcp.web.$S" SRV additional
check "SRV _pg._tcp of a headless Service: one per ready endpoint, named by hostname or dashed IP" \
  equals "$(printf '0 25 5432 %s.\n' "192-0-2-3.db.$S" "db-0.db.$S" "db-1.db.$S" "db-6.db.$S" | sort)" -- short "_pg._tcp.db.$S" SRV
check "the headless SRV targets' addresses are in the additional section" \
  equals "$(printf '%s\n' "192-0-2-3.db.$S. 30 IN A 192.0.2.3" "db-0.db.$S. 30 IN A 192.0.2.1" "db-1.db.$S. 30 IN A 192.0.2.2" "db-6.db.$S. 30 IN AAAA 2001:db8::7" | sort)" \
  -- bash -c "dig @127.0.0.1 -p $P +time=2 +tries=1 _pg._tcp.db.$S SRV +noall +additional | awk '!/^;/ && NF' | tr -s ' \t' ' ' | sort"
check "_tcp.<svc> (a protocol with a named port) is NODATA" equals NOERROR -- status "_tcp.web.$S" SRV

# ---- ExternalName -------------------------------------------------------------------------------------
check "ExternalName: CNAME to spec.externalName" equals "ext.$S. 30 IN CNAME db.example.test." -- section "ext.$S" CNAME answer
check "ExternalName to a name in the zone: CNAME followed to the A" \
  equals "$(printf '%s\n' "alias.$S. 30 IN CNAME web.$S." "web.$S. 30 IN A $WEB_IP")" -- section "alias.$S" A answer
check "ExternalName to a name of the upstream's domain: CNAME, then the upstream's A" \
  equals "$(printf '%s\n' "fwd.$S. 30 IN CNAME web.$NS.svc.upstream.test." "web.$NS.svc.upstream.test. 30 IN A $WEB_IP")" \
  -- section "fwd.$S" A answer
check "an ExternalName naming itself: its CNAME once, NOERROR (no loop of repeated records)" \
  equals "self.$S. 30 IN CNAME self.$S." -- section "self.$S" A answer

# ---- PTR, pods ----------------------------------------------------------------------------------------
rev4() { local a b c e; IFS=. read -r a b c e <<<"$1"; echo "$e.$c.$b.$a.in-addr.arpa"; }
check "PTR of the ClusterIP names the Service" equals "web.$S." -- short "$(rev4 "$WEB_IP")" PTR
check "PTR of a headless endpoint IP names its hostname" equals "db-0.db.$S." -- short "$(rev4 192.0.2.1)" PTR
check "PTR of an endpoint IP without hostname names its dashed form" equals "192-0-2-3.db.$S." -- short "$(rev4 192.0.2.3)" PTR
check "PTR of an IPv6 endpoint (ip6.arpa)" equals "db-6.db.$S." -- short -x 2001:db8::7
check "dig -x gives the same as the PTR question" equals "db-1.db.$S." -- short -x 192.0.2.2
check "a pod name a-b-c-d.<ns>.pod is its address" equals 10.244.1.5 -- short "10-244-1-5.$NS.pod.$Z" A
check "a dashed IPv6 pod name is AAAA" equals fd00::5 -- short "fd00--5.$NS.pod.$Z" AAAA
check "a pod name that is not an address is NXDOMAIN" equals NXDOMAIN -- status "10-244-1.$NS.pod.$Z" A

# ---- negative answers ----------------------------------------------------------------------------------
soa_re="^$Z\. 5 IN SOA ns\.dns\.$Z\. hostmaster\.$Z\. [0-9]+ 7200 1800 86400 5$"
check "an unknown Service is NXDOMAIN" equals NXDOMAIN -- status "nosuch.$S" A
check "NXDOMAIN carries the zone's SOA in the authority section, TTL 5, minimum 5" \
  bash -c "dig @127.0.0.1 -p $P +time=2 +tries=1 nosuch.$S A +noall +authority | awk '!/^;/ && NF' | tr -s ' \t' ' ' | grep -Eqx '$soa_re'"
check "NXDOMAIN has no answer" equals "" -- short "nosuch.$S" A
check "a name with other types only (TXT of a Service) is NODATA: NOERROR" equals NOERROR -- status "web.$S" TXT
check "NODATA has no answer" equals "" -- short "web.$S" TXT
check "NODATA carries the SOA in the authority section, TTL 5" \
  bash -c "dig @127.0.0.1 -p $P +time=2 +tries=1 web.$S TXT +noall +authority | awk '!/^;/ && NF' | tr -s ' \t' ' ' | grep -Eqx '$soa_re'"
check "a namespace with Services (<ns>.svc) is NODATA" equals NOERROR -- status "$S" A
check "a namespace without Services is NXDOMAIN" equals NXDOMAIN -- status "nobody.svc.$Z" A
check "dns-version is TXT 1.0.1" equals '"1.0.1"' -- short "dns-version.$Z" TXT
check "the zone apex has an SOA" bash -c "dig @127.0.0.1 -p $P +time=2 +tries=1 +short $Z SOA | grep -q '^ns.dns.$Z. hostmaster.$Z. '"

# ---- case, domain ---------------------------------------------------------------------------------------
check "names compare case-insensitively (WeB.DnsTest.SVC.Cluster.LOCAL)" \
  equals "$WEB_IP" -- short "WeB.DnsTest.SVC.Cluster.LOCAL" A
check "and the answer is spelled as asked" \
  equals "WeB.DnsTest.SVC.Cluster.LOCAL. 30 IN A $WEB_IP" -- section "WeB.DnsTest.SVC.Cluster.LOCAL" A answer
check "another --domain (upstream.test) answers under it" equals "$WEB_IP" -- short "@$PORT_UP" "web.$NS.svc.upstream.test" A
check "its SRV targets are under it too" equals "0 100 80 web.$NS.svc.upstream.test." \
  -- short "@$PORT_UP" "_http._tcp.web.$NS.svc.upstream.test" SRV
check "and cluster.local is not its zone (REFUSED with --upstream none)" equals REFUSED -- status "@$PORT_UP" "web.$S" A

# ---- forwarding -------------------------------------------------------------------------------------
check "a name outside the zone is forwarded to the upstream (its answer)" \
  equals "$WEB_IP" -- short "web.$NS.svc.upstream.test" A
check "the forwarded answer is not authoritative and has ra" \
  bash -c "f=\$(dig @127.0.0.1 -p $P +time=2 +tries=1 web.$NS.svc.upstream.test A | sed -n 's/.*flags: \([a-z ]*\);.*/\1/p'); [[ \" \$f \" == *' ra '* && \" \$f \" != *' aa '* ]]"
check "the upstream's NXDOMAIN is passed on" equals NXDOMAIN -- status "nosuch.$NS.svc.upstream.test" A
check "the upstream's REFUSED (outside its zone too) is passed on" equals REFUSED -- status "example.test" A
check "--upstream none: a name outside the zone is REFUSED" equals REFUSED -- status "@$PORT_NONE" "web.$NS.svc.upstream.test" A
check "--upstream none: the zone is still answered" equals "$WEB_IP" -- short "@$PORT_NONE" "web.$S" A
check "--upstream none: the ExternalName's CNAME is given without the outside target" \
  equals "fwd.$S. 30 IN CNAME web.$NS.svc.upstream.test." -- section "@$PORT_NONE" "fwd.$S" A answer

check "EDNS version 1 is BADVERS (RFC 6891)" equals BADVERS -- status +edns=1 +noednsnegotiation "web.$S" A
check "an opcode other than QUERY (STATUS) is NOTIMP" equals NOTIMP -- status +opcode=2 "web.$S" A

# --resolv-conf: the nameservers of the file (port 53); one that is the server's own address is left out.
printf 'search example.test\nnameserver 192.0.2.53\nnameserver 127.0.0.1\noptions ndots:5\n' >"$WORK/resolv.conf"
check "vcluster-dns --resolv-conf syncs" start_dns RC --resolv-conf "$WORK/resolv.conf"
check "it forwards to the file's nameservers" grep -q 'other names go to 192.0.2.53:53, 127.0.0.1:53$' "$WORK/dns-RC.log"
check "SIGTERM stops it (exit 0)" stop_pid "$PID_RC"
SELF=$(free_port)
start_bg "$WORK/dns-SELF.log" "$DNS" --address "127.0.0.1:$SELF" --kubeconfig "$KC_host" --upstream "127.0.0.1:$SELF"
PID_SELF=$LAST_PID
check "an upstream that is the server's own address is left out (no forwarding loop): none" \
  poll 30 "grep -qs 'other names go to none$' '$WORK/dns-SELF.log'"
check "so an outside name is REFUSED there, not looped" equals REFUSED -- status "@$SELF" "example.test" A
check "SIGTERM stops it (exit 0)" stop_pid "$PID_SELF"

# ---- truncation --------------------------------------------------------------------------------------
count_a() { d "$@" +noall +answer | awk '$4 == "A"' | wc -l; }
check "UDP (EDNS 1232): a $BIG-endpoint headless answer is truncated (tc)" has_flag tc +notcp +ignore "big.$S" A
check "the truncated UDP answer has whole records, fewer than $BIG" \
  bash -c "n=\$(dig @127.0.0.1 -p $P +time=2 +tries=1 +notcp +ignore big.$S A +noall +answer | awk '\$4 == \"A\"' | wc -l); ((n > 0 && n < $BIG))"
check "UDP without EDNS: truncated at 512 bytes too" \
  bash -c "r=\$(dig @127.0.0.1 -p $P +time=2 +tries=1 +notcp +ignore +noedns big.$S A); echo \"\$r\" | grep -q 'flags:.* tc' && echo \"\$r\" | grep -q 'MSG SIZE  rcvd: [1-5][0-9][0-9]\$'"
check "over TCP (+tcp) the answer is complete: $BIG A records" equals $BIG -- count_a +tcp "big.$S" A
check "dig retries a truncated UDP answer over TCP and gets all $BIG" \
  bash -c "r=\$(dig @127.0.0.1 -p $P +time=2 +tries=1 big.$S A); echo \"\$r\" | grep -q 'Truncated, retrying in TCP mode' && [ \"\$(echo \"\$r\" | awk '!/^;/ && \$4 == \"A\"' | wc -l)\" = $BIG ]"
check "the TCP answer is not truncated" lacks_flag tc +tcp "big.$S" A
check "a small answer over UDP is not truncated" lacks_flag tc +notcp "db.$S" A

check "a truncated upstream answer is asked again over TCP: all $BIG through the forwarder" \
  equals $BIG -- count_a +tcp "big.$NS.svc.upstream.test" A

# ---- live updates ---------------------------------------------------------------------------------------
hk -n "$NS" create service clusterip live --tcp=8080 >/dev/null
LIVE_IP=$(hk -n "$NS" get service live -o jsonpath='{.spec.clusterIP}')
check "a Service created while serving is answered within 5 s" poll 5 equals "$LIVE_IP" -- short "live.$S" A
hk -n "$NS" delete service live >/dev/null
check "a deleted Service is NXDOMAIN within 5 s" poll 5 equals NXDOMAIN -- status "live.$S" A
check "and its PTR is gone (the reverse name goes to the upstream: REFUSED there)" \
  poll 5 equals REFUSED -- status "$(rev4 "$LIVE_IP")" PTR
hk -n "$NS" patch endpoints db --type json -p '[{"op":"add","path":"/subsets/0/addresses/-","value":{"ip":"192.0.2.4","hostname":"db-3"}}]' >/dev/null
check "an endpoint added is answered within 5 s" poll 5 equals 192.0.2.4 -- short "db-3.db.$S" A
hk -n "$NS" patch service web --type json -p '[{"op":"add","path":"/spec/ports/-","value":{"name":"grpc","port":9000,"protocol":"TCP"}}]' >/dev/null
check "a port added to a Service gets its SRV within 5 s" poll 5 equals "0 100 9000 web.$S." -- short "_grpc._tcp.web.$S" SRV

# ---- junk --------------------------------------------------------------------------------------------
# junk MODE: sends junk to MAIN with Python; prints what came back (hex) or "none".
junk() {
  python3 - "$P" "$1" <<'PY'
import socket, struct, sys
port, mode = int(sys.argv[1]), sys.argv[2]
def query(qid, name="web.dnstest.svc.cluster.local"):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for l in name.split("."):
        q += bytes([len(l)]) + l.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)
def udp(payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(payload, ("127.0.0.1", port))
    try:
        print(s.recvfrom(65535)[0].hex())
    except socket.timeout:
        print("none")
def tcp(payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(payload)
    data = b""
    try:
        while True:
            chunk = s.recv(65535)
            if not chunk:
                break
            data += chunk
            if len(data) >= 2 and len(data) >= 2 + struct.unpack(">H", data[:2])[0]:
                break
    except socket.timeout:
        pass
    print(data.hex() if data else "none")
if mode == "short":          # fewer than 12 bytes
    udp(b"\x12\x34\x01")
elif mode == "response":     # a response (QR set): never answered
    q = bytearray(query(0x4242)); q[2] |= 0x80; udp(bytes(q))
elif mode == "garbage":      # a header that promises a question, then junk
    udp(struct.pack(">HHHHHH", 0x5151, 0x0100, 1, 0, 0, 0) + b"\xc0\xff\xff\xff\x3f")
elif mode == "tcp-zero":     # a 0-length frame, then a real query on the same connection
    q = query(0x7777); tcp(b"\0\0" + struct.pack(">H", len(q)) + q)
elif mode == "loop":         # a question name that is a compression pointer to itself
    udp(struct.pack(">HHHHHH", 0x1111, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack(">HH", 1, 1))
elif mode == "axfr":         # a zone transfer over TCP
    q = bytearray(query(0x2525)); q[-4:-2] = struct.pack(">H", 252); tcp(struct.pack(">H", len(q)) + bytes(q))
elif mode == "pipelined":    # five queries in one write, sent one byte at a time: five answers, by ID
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    data = b"".join(struct.pack(">H", len(q)) + q for q in (query(0x6000 + i) for i in range(5)))
    for i in range(len(data)):
        s.send(data[i:i + 1])
    got, buf = [], b""
    try:
        while len(got) < 5:
            chunk = s.recv(65535)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                n = struct.unpack(">H", buf[:2])[0]
                got.append("%04x" % struct.unpack(">H", buf[2:4])[0])
                buf = buf[2 + n:]
    except socket.timeout:
        pass
    print(" ".join(sorted(got)))
elif mode == "idle":         # a connection that sends nothing: seconds until the server closes it
    import time
    s = socket.create_connection(("127.0.0.1", port), timeout=20); t = time.time()
    try:
        s.recv(1)
    except socket.timeout:
        pass
    print(round(time.time() - t))
elif mode == "many":         # 300 connections at once: how many the server keeps open (the rest it closes)
    import time
    conns = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(300)]
    time.sleep(0.5)
    kept = 0
    for c in conns:
        c.setblocking(False)
        try:
            kept += c.recv(1) != b""
        except BlockingIOError:
            kept += 1
        except ConnectionError:
            pass
    print(kept)
elif mode == "tcp-zero-only":  # a 0-length frame and nothing else, then the connection closes
    s = socket.create_connection(("127.0.0.1", port), timeout=3); s.sendall(b"\0\0"); s.close(); print("sent")
PY
}
check "a datagram shorter than a header is dropped (no answer)" equals none -- junk short
check "a response (QR set) is dropped (no answer, no reflection)" equals none -- junk response
# is_answer HEX ID RCODE: HEX is a DNS response (QR set) to ID with that rcode.
is_answer() { [[ ${1:0:4} == "$2" ]] && (((0x${1:4:2} & 0x80) && (0x${1:6:2} & 0xf) == $3)); }
formerr_to_id() { is_answer "$(junk garbage)" 5151 1; }
is_answer_of() { is_answer "$(junk "$1")" "$2" "$3"; }
is_tcp_answer_of() { local r; r=$(junk "$1"); is_answer "${r:4}" "$2" "$3"; }
# Over TCP the answer follows its 2-byte length.
tcp_after_zero() { local r; r=$(junk tcp-zero); is_answer "${r:4}" 7777 0; }
check "a query that does not parse gets FORMERR to its ID" formerr_to_id
check "a question name that is a compression loop gets FORMERR" is_answer_of loop 1111 1
check "a zone transfer (AXFR over TCP) is NOTIMP" is_tcp_answer_of axfr 2525 4
check "queries pipelined on one TCP connection, arriving byte by byte, are all answered" \
  equals "6000 6001 6002 6003 6004" -- junk pipelined
check "a 0-length TCP frame is skipped: the query after it on the connection is answered (NOERROR)" tcp_after_zero
junk tcp-zero-only >/dev/null
idle_closed() { local t; t=$(junk idle); ((t >= 9 && t <= 12)); }
check "an idle TCP connection is closed after 10 s" idle_closed
check "of 300 TCP connections at once, 256 are kept open and the rest closed" equals 256 -- junk many
check "after the junk the server still answers over UDP" equals "$WEB_IP" -- short +notcp "web.$S" A
check "and over TCP" equals "$WEB_IP" -- short +tcp "web.$S" A
# shellcheck disable=SC2154 # PID_* are set by start_dns
check "vcluster-dns did not exit" kill -0 "$PID_MAIN"
check "no error in its log" bash -c "! grep -qiE 'error|fatal|abort' '$WORK/dns-MAIN.log'"
# A name not asked before: in the forwarder's cache from now on, with the upstream's TTL 30.
check "the upstream answers db-0 of its domain" equals 192.0.2.1 -- short "db-0.db.$NS.svc.upstream.test" A
sleep 2
check "an answer served from the forwarder's cache has its TTL counted down (27 or 28 after 2 s)" \
  bash -c "t=\$(dig @127.0.0.1 -p $P +time=2 +tries=1 db-0.db.$NS.svc.upstream.test A +noall +answer | awk '!/^;/ && NF {print \$2; exit}'); [ \"\$t\" = 27 ] || [ \"\$t\" = 28 ]"
check "a forwarded name asked in another case: the answer, owner spelled as asked" \
  equals "DB-0.db.$NS.svc.upstream.test. A 192.0.2.1" -- bash -c "dig @127.0.0.1 -p $P +time=2 +tries=1 DB-0.db.$NS.svc.upstream.test A +noall +answer | awk '!/^;/ && NF {print \$1, \$4, \$5}'"
check "SIGTERM stops the upstream (exit 0)" stop_pid "$PID_UP"
check "an upstream that does not answer: SERVFAIL (after the attempts)" equals SERVFAIL -- status +time=6 "web2.$NS.svc.upstream.test" A
check "while a name answered before is served from the cache" equals 192.0.2.1 -- short "db-0.db.$NS.svc.upstream.test" A
check "SIGTERM stops vcluster-dns cleanly (exit 0)" stop_pid "$PID_MAIN"

# ---- the syncer's listener --------------------------------------------------------------------------------
if [ -n "$SYNCER" ]; then
  start_cluster virt virtual
  # shellcheck disable=SC2154 # KC_virt is set by start_cluster
  vk() { kubectl --kubeconfig "$KC_virt" "$@"; }
  # shellcheck disable=SC2034 # VC and HNS are read by lib.sh's syncer_up
  VC=dns-vc HNS=vcluster-dns-vc
  hk create namespace "$HNS" >/dev/null
  port=$(free_port)
  URL=http://127.0.0.1:$port
  P=$(free_port)
  check "the syncer with --dns-address becomes ready" \
    syncer_up dns "$SYNCER_PLUGIN" --dns-address "127.0.0.1:$P" --dns-upstream "127.0.0.1:$PORT_NONE"
  check "the syncer answers the virtual kubernetes Service (10.97.0.1)" \
    poll 10 equals 10.97.0.1 -- short "kubernetes.default.svc.$Z" A
  check "and not the host's Services (web.$NS is NXDOMAIN there)" equals NXDOMAIN -- status "web.$S" A
  vk create service clusterip vweb --tcp=80 >/dev/null
  VWEB_IP=$(vk get service vweb -o jsonpath='{.spec.clusterIP}')
  check "a virtual Service created is answered within 5 s" poll 5 equals "$VWEB_IP" -- short "vweb.default.svc.$Z" A
  check "its PTR names it" equals "vweb.default.svc.$Z." -- short -x "$VWEB_IP"
  cat <<YAML | vk apply -f - >/dev/null
apiVersion: v1
kind: Service
metadata: {name: vdb, namespace: default}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: vdb, namespace: default}
subsets: [{addresses: [{ip: 192.0.2.31, hostname: vdb-0}], ports: [{name: pg, port: 5432}]}]
YAML
  check "a virtual headless Service's endpoint hostname is answered" poll 5 equals 192.0.2.31 -- short "vdb-0.vdb.default.svc.$Z" A
  vk delete service vweb >/dev/null
  check "a virtual Service deleted is NXDOMAIN within 5 s" poll 5 equals NXDOMAIN -- status "vweb.default.svc.$Z" A
  check "names outside go to its --dns-upstream (REFUSED by that one)" equals REFUSED -- status "example.test" A
  check "the syncer's DNS counters are on /metrics" \
    bash -c "[ \"\$(curl -sf $URL/metrics | awk '\$1 == \"vcluster_syncer_dns_responses_total{rcode=\\\"NXDOMAIN\\\"}\" {print \$2}')\" -ge 2 ]"
  check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
  check "SIGTERM stops vcluster-dns --upstream none (exit 0)" stop_pid "$PID_NONE"
else
  echo "# skip: no SYNCER PLUGIN arguments: the syncer's --dns-address listener is not tested"
fi
summary
