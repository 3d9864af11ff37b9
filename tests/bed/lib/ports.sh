# shellcheck shell=bash
# Free loopback TCP ports for the bed. Source it; it defines functions only.
#
# A port is free when a bind to 127.0.0.1:PORT succeeds. Between the probe and the server's own bind
# another process could take it, so three things narrow the window:
#   - ports come from 20000-32767, below Linux's default ephemeral range (32768-60999), so clients'
#     outgoing connections and other programs' port-0 binds do not land on them;
#   - the choice is random, so two beds starting at once rarely probe the same port;
#   - a reservation file per chosen port, made under a lock shared by every bed on the machine, stops
#     a concurrent `cluster start` from handing out the same port before the first one has bound it.
#     A reservation older than PORT_RESERVATION_TTL seconds is ignored: by then its server has bound
#     the port (the probe fails) or has given up.
# Callers still treat "address already in use" in a log as retryable (see tests/bed/cluster).

PORT_LOCK_DIR=${VC_BED_PORT_DIR:-/tmp/vcluster-bed-ports}
PORT_RESERVATION_TTL=120

# ports_pick N: prints N distinct free ports, one a line, and reserves them.
ports_pick() {
  local n=$1
  mkdir -p "$PORT_LOCK_DIR"
  (
    flock -w 30 9 || die "could not take the port lock $PORT_LOCK_DIR/lock within 30 s"
    find "$PORT_LOCK_DIR" -maxdepth 1 -name 'port-*' -mmin +"$((PORT_RESERVATION_TTL / 60))" -delete 2>/dev/null || true
    python3 - "$n" "$PORT_LOCK_DIR" <<'PY'
import os, random, socket, sys, time
n, lockdir = int(sys.argv[1]), sys.argv[2]
ttl = 120
chosen, held = [], []
tries = 0
while len(chosen) < n:
    tries += 1
    if tries > 5000:
        sys.exit("no free port found in 20000-32767 after 5000 tries")
    p = random.randint(20000, 32767)
    if p in chosen:
        continue
    res = os.path.join(lockdir, "port-%d" % p)
    try:
        if time.time() - os.path.getmtime(res) < ttl:
            continue
    except OSError:
        pass
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    # Hold every probe socket until all are chosen so one pick cannot return the same port twice.
    held.append(s)
    chosen.append(p)
for p in chosen:
    with open(os.path.join(lockdir, "port-%d" % p), "w") as f:
        f.write(str(os.getppid()))
for s in held:
    s.close()
print("\n".join(map(str, chosen)))
PY
  ) 9>"$PORT_LOCK_DIR/lock"
}
