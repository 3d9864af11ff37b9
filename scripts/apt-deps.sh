#!/usr/bin/env bash
# Installs, from Debian only, exactly what the project needs to build and test.
# Idempotent: packages already present are skipped, apt-get update runs at most once per boot.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_PKGS=(meson ninja-build pkg-config g++ clang libclang-rt-14-dev clang-format libuv1-dev libsimdjson-dev libyaml-cpp-dev
  libssl-dev libspdlog-dev libfmt-dev doctest-dev node-llhttp openssl curl)
BED_PKGS=(etcd-server etcd-client golang-1.19-go golang-github-modern-go-reflect2-dev dpkg-dev rsync
  iproute2 iptables conntrack containerd runc containernetworking-plugins docker-registry skopeo busybox-static
  nginx-light procps psmisc gcc libc6-dev python3 bind9-dnsutils dnsperf)

missing=()
for p in "${BUILD_PKGS[@]}" "${BED_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  stamp=/var/lib/apt/periodic/vcluster-cpp-updated
  if [ ! -e "$stamp" ] || [ "$(stat -c %Y "$stamp")" -lt "$(($(date +%s) - 86400))" ]; then
    log "apt-get update"
    apt-get update -qq
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
