# shellcheck shell=bash
# Processes of one bed cluster, tracked by the PID files in DIR/pids. Source it; functions only.
#
# A PID file alone is not proof: after a reboot or a long time the number may belong to another
# program. A recorded PID counts as the cluster's only while /proc/PID/cmdline mentions the cluster
# directory (every component is started with paths under it) and the process is not a zombie.

# proc_owned PID DIR: exit status 0 when PID is a live process of the cluster in DIR.
proc_owned() {
  local pid=$1 dir=$2 state cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  # Field 3 of /proc/PID/stat is the state; the command name before it is in parentheses and may
  # hold spaces, so strip through the last ')'.
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$dir/"* ]]
}

# exec_settled PID DIR: waits (up to 5 s) until a process just started with `cmd ... &` has exec'd its
# program, so that proc_owned judges the program and not the shell's fork. Between the fork and the exec,
# /proc/PID/cmdline is the calling script's own, which need not mention DIR: a liveness check right after
# a launch then took a starting component for a dead one (CI: "registry (pid 634) exited while waiting
# for registry", its log empty). Returns at once when the process is gone.
exec_settled() {
  local pid=$1 dir=$2 i
  for ((i = 0; i < 500; i++)); do
    proc_owned "$pid" "$dir" && return 0
    [ -r "/proc/$pid/stat" ] || return 0
    [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && return 0
    sleep 0.01
  done
}

# procs_live DIR: prints "COMPONENT PID" for every recorded process of DIR that is still alive.
procs_live() {
  local dir=$1 f pid
  [ -d "$dir/pids" ] || return 0
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if proc_owned "$pid" "$dir"; then printf '%s %s\n' "$(basename "$f" .pid)" "$pid"; fi
  done
}

# procs_stop DIR: TERM every live process of DIR, KILL what is left after PROC_TERM_GRACE seconds,
# and fail (status 1, naming them) if any is still alive PROC_KILL_GRACE seconds later.
PROC_TERM_GRACE=${VC_BED_TERM_GRACE:-5}
PROC_KILL_GRACE=5
procs_stop() {
  local dir=$1 live comp pid deadline
  live=$(procs_live "$dir")
  [ -n "$live" ] || return 0
  while read -r comp pid; do kill -TERM "$pid" 2>/dev/null || true; done <<<"$live"
  deadline=$((SECONDS + PROC_TERM_GRACE))
  while [ -n "$(procs_live "$dir")" ] && ((SECONDS < deadline)); do sleep 0.1; done
  live=$(procs_live "$dir")
  if [ -n "$live" ]; then
    while read -r comp pid; do
      log "$comp (pid $pid) ignored TERM for ${PROC_TERM_GRACE}s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
    done <<<"$live"
    deadline=$((SECONDS + PROC_KILL_GRACE))
    while [ -n "$(procs_live "$dir")" ] && ((SECONDS < deadline)); do sleep 0.1; done
  fi
  live=$(procs_live "$dir")
  if [ -n "$live" ]; then
    printf 'error: still alive after KILL: %s\n' "$(tr '\n' ' ' <<<"$live")" >&2
    return 1
  fi
}
