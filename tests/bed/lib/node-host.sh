# shellcheck shell=bash
# Host state a bed node changes, and how `tests/bed/node stop` puts it back: iptables chains and
# rules, the pod bridge, network namespaces, mounts under the node directory, cgroups, sysctls,
# pod log directories. Source it; it defines functions only. Every function here is safe to call
# when the thing it removes was never made (a start that failed half-way).

# Kernel settings that containerd's bridge plugin (ip_forward), kube-proxy (route_localnet, the
# conntrack limits) and the kubelet (its "kernel tunables") may change; saved at start, put back at stop.
NODE_SYSCTLS=(
  net.ipv4.ip_forward net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
  net.netfilter.nf_conntrack_tcp_timeout_close_wait
)

sysctl_path() { echo "/proc/sys/${1//.//}"; }

# sysctls_save FILE: "key value" lines for every NODE_SYSCTLS key this kernel has.
sysctls_save() {
  local out=$1 k p
  : >"$out.tmp"
  for k in "${NODE_SYSCTLS[@]}"; do
    p=$(sysctl_path "$k")
    [ -r "$p" ] && printf '%s %s\n' "$k" "$(tr '\t' ' ' <"$p")" >>"$out.tmp"
  done
  mv "$out.tmp" "$out"
}

# sysctls_restore FILE: writes back every saved value that differs now.
sysctls_restore() {
  local f=$1 k v p
  [ -f "$f" ] || return 0
  while read -r k v; do
    p=$(sysctl_path "$k")
    [ -w "$p" ] || continue
    if [ "$(tr '\t' ' ' <"$p")" != "$v" ]; then
      echo "$v" >"$p" 2>/dev/null || log "could not restore $k to '$v'"
    fi
  done <"$f"
}

# ---- iptables ------------------------------------------------------------------------------------

# ipt_remove_chains CMD PATTERN: in every table of CMD (iptables or ip6tables), deletes the rules
# of the other chains that jump to a chain whose name matches the extended regex PATTERN, then
# flushes and deletes those chains.
ipt_remove_chains() {
  local cmd=$1 pat=$2 table line chains chain rule
  command -v "$cmd" >/dev/null || return 0
  for table in raw mangle nat filter; do
    chains=$("$cmd" -w -t "$table" -S 2>/dev/null | awk -v p="^($pat)" '$1 == "-N" && $2 ~ p {print $2}') || continue
    # Jumps from other chains (the built-in ones) to ours: delete them first.
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      rule=${line#-A }
      # The rule text is iptables' own quoting (comments are in double quotes): eval splits it back.
      eval "\"\$cmd\" -w -t \"\$table\" -D $rule" 2>/dev/null || true
    done < <("$cmd" -w -t "$table" -S 2>/dev/null \
      | awk -v p="^($pat)" '$1 == "-A" && $2 !~ p' \
      | grep -E -- "-[jg] ($pat)[A-Za-z0-9_-]*( |$)" || true)
    for chain in $chains; do "$cmd" -w -t "$table" -F "$chain" 2>/dev/null || true; done
    for chain in $chains; do "$cmd" -w -t "$table" -X "$chain" 2>/dev/null || true; done
  done
}

# ipt_chains_left PATTERN: prints "cmd table chain" for every chain still matching PATTERN.
ipt_chains_left() {
  local pat=$1 cmd table
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in raw mangle nat filter; do
      "$cmd" -w -t "$table" -S 2>/dev/null | awk -v c="$cmd" -v t="$table" -v p="^($pat)" '$1 == "-N" && $2 ~ p {print c, t, $2}'
    done
  done
}

# egress_guard_install CHAIN BRIDGE POD_CIDR: drops every packet forwarded from the pod bridge to an
# address outside the pod range, and every packet forwarded into the bridge from outside it. The
# chain is in the mangle table, whose FORWARD hook runs before the filter table's, where kube-proxy
# puts its ACCEPT rules; Service addresses are already translated (nat PREROUTING) by then.
egress_guard_install() {
  local chain=$1 br=$2 cidr=$3
  iptables -w -t mangle -N "$chain"
  iptables -w -t mangle -A "$chain" -i "$br" ! -d "$cidr" -m comment --comment "vcluster bed: pods reach only the pod range" -j DROP
  iptables -w -t mangle -A "$chain" -o "$br" ! -s "$cidr" -m comment --comment "vcluster bed: nothing from outside reaches the pods" -j DROP
  iptables -w -t mangle -I FORWARD 1 -j "$chain"
  # The pods have no IPv6 addresses but link-local ones; nothing is forwarded for them either way.
  if command -v ip6tables >/dev/null && ip6tables -w -t mangle -S >/dev/null 2>&1; then
    ip6tables -w -t mangle -N "$chain"
    ip6tables -w -t mangle -A "$chain" -i "$br" -j DROP
    ip6tables -w -t mangle -A "$chain" -o "$br" -j DROP
    ip6tables -w -t mangle -I FORWARD 1 -j "$chain"
  fi
}

# ---- mounts, network namespaces, links ----------------------------------------------------------

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() {
  local dir=$1
  # Field 5 of mountinfo is the mount point, with spaces etc. as octal escapes.
  awk -v d="$dir" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print length(m), m }' /proc/self/mountinfo \
    | sort -rn | cut -d' ' -f2- | uniq
}

# unmount_under DIR: lazily unmounts everything at or below DIR (network namespaces bound there too).
unmount_under() {
  local dir=$1 m
  for _ in 1 2 3; do
    local any=0
    while IFS= read -r m; do
      [ -n "$m" ] || continue
      any=1
      umount -l "$m" 2>/dev/null || umount -f "$m" 2>/dev/null || true
    done < <(mounts_under "$dir")
    ((any)) || return 0
  done
  [ -z "$(mounts_under "$dir")" ]
}

# ---- cgroups -------------------------------------------------------------------------------------

# cgroup_dirs ROOT_NAME: the ROOT_NAME directory in every mounted cgroup hierarchy (existing ones).
cgroup_dirs() {
  local name=$1 h
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$name" ] && echo "${h%/}/$name"
  done
  return 0
}

# cgroup_create ROOT_NAME: the cgroup the kubelet puts every pod under (its cgroupRoot), in each
# cgroup v1 hierarchy, with the parent's CPUs and memory nodes for cpuset.
cgroup_create() {
  local name=$1 h
  for h in /sys/fs/cgroup/*/; do
    h=${h%/}
    [ -f "$h/cgroup.procs" ] || continue
    [ "$(stat -f -c %T "$h")" = cgroupfs ] || continue # cgroup v1 only (the v2 "unified" is cgroup2fs)
    mkdir -p "$h/$name"
    if [ -f "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" >"$h/$name/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/$name/cpuset.mems"
    fi
  done
}

# cgroup_pids ROOT_NAME: every process in the cgroup trees, once.
cgroup_pids() {
  local d
  while IFS= read -r d; do
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done < <(cgroup_dirs "$1") | sort -un
}

# cgroup_remove ROOT_NAME: kills what still runs in the trees and removes them, deepest first.
cgroup_remove() {
  local name=$1 d pids p end
  pids=$(cgroup_pids "$name")
  if [ -n "$pids" ]; then
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    end=$((SECONDS + 10))
    while [ -n "$(cgroup_pids "$name")" ] && ((SECONDS < end)); do sleep 0.1; done
  fi
  while IFS= read -r d; do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done < <(cgroup_dirs "$name")
  [ -z "$(cgroup_dirs "$name")" ]
}

# ---- processes that are not recorded -------------------------------------------------------------

# procs_mentioning DIR: PIDs of live (non-zombie) processes whose command line mentions DIR/; the
# containerd shims (their -address is the node's socket) are among them.
procs_mentioning() {
  local dir=$1 p cmd state self
  # This script's own subshells share its command line, which may mention DIR: never count them.
  self=$(tr '\0' ' ' <"/proc/$$/cmdline")
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *"$dir/"* ]] || continue
    [ "$cmd" != "$self" ] || continue
    state=$(sed 's/.*) //' "$p/stat" 2>/dev/null | cut -d' ' -f1)
    [ "$state" = Z ] || [ -z "$state" ] || echo "${p#/proc/}"
  done
  return 0
}

# kill_mentioning DIR: TERM, then KILL, every process procs_mentioning finds (not this shell).
kill_mentioning() {
  local dir=$1 p end pids
  pids=$(procs_mentioning "$dir" | grep -vx "$$" || true)
  [ -n "$pids" ] || return 0
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  end=$((SECONDS + 5))
  while [ -n "$(procs_mentioning "$dir" | grep -vx "$$" || true)" ] && ((SECONDS < end)); do sleep 0.1; done
  for p in $(procs_mentioning "$dir" | grep -vx "$$" || true); do kill -KILL "$p" 2>/dev/null || true; done
  end=$((SECONDS + 5))
  while [ -n "$(procs_mentioning "$dir" | grep -vx "$$" || true)" ] && ((SECONDS < end)); do sleep 0.1; done
  [ -z "$(procs_mentioning "$dir" | grep -vx "$$" || true)" ]
}
