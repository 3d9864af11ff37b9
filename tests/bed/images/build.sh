#!/usr/bin/env bash
# Builds the container images a bed node runs, with no network: from this directory's C sources and
# Debian's installed packages. Each image is cached as an OCI image layout under
# $VC_CACHE/images/<name>-<version>/oci; a cached image is rebuilt when its version or this
# directory's recipe (build.sh, mkoci.py, the C sources) changes. See tests/bed/README.md.
#
# Usage:
#   build.sh           build what is missing (logs on stderr, nothing on stdout)
#   build.sh --list    build what is missing, then print "LAYOUT_DIR REPOSITORY:TAG" lines: what a
#                      node's registry serves (repository names as the docker.io/k8s.gcr.io mirror
#                      sees them)
#
# Images (repository:tag → contents):
#   pause:3.2                a static pause (pause.c: sleeps, reaps zombies, exits on SIGINT/SIGTERM)
#   library/busybox:latest   Debian's busybox-static with every applet linked
#   library/nginx:latest     Debian's nginx with the libraries ldd lists and the loader, a welcome
#   library/nginx:1.14.2     page on port 80, logs to stdout/stderr, `nginx -g 'daemon off;'`;
#                            the 1.14.2 tag is the same image (Debian's nginx, not 1.14.2)
#   cr7258/nettool:v1        busybox (sh, ping, nslookup, nc), curl with its libraries, and the nginx
#                            above serving the welcome page on port 80, as the article's image does
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../../../scripts/lib.sh"

IMAGES_DIR=$VC_CACHE/images
LIST=0
case ${1:-} in
  --list) LIST=1 ;;
  '') ;;
  *) die "usage: build.sh [--list]" ;;
esac

for tool in gcc python3 busybox curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/apt-deps.sh installs what the images need)"
done
[ -x /usr/sbin/nginx ] || die "/usr/sbin/nginx is not installed (scripts/apt-deps.sh installs nginx-light)"
[ -x /usr/bin/busybox ] && file_is_static=$(ldd /usr/bin/busybox 2>&1 || true)
[[ ${file_is_static:-} == *"not a dynamic executable"* ]] || die "/usr/bin/busybox is not static (install busybox-static)"

# Everything that decides an image's contents, besides the Debian package versions in the names.
RECIPE=$(cat "$HERE/build.sh" "$HERE/mkoci.py" "$HERE/pause.c" | sha256sum | cut -c1-16)

pkg_version() {
  local v
  v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) || die "package $1 is not installed"
  # No epoch, and only characters that are safe in a directory name.
  v=${v#*:}
  echo "${v//[^A-Za-z0-9._-]/_}"
}

# ---- root file system helpers ------------------------------------------------------------------

# skeleton ROOT: the files every image has: users, groups, /tmp.
skeleton() {
  local r=$1
  mkdir -p "$r"/{etc,tmp,root,bin,sbin,usr/bin,usr/sbin,usr/local/bin,var/run,run,proc,sys,dev}
  chmod 1777 "$r/tmp"
  chmod 700 "$r/root"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nginx:x:101:101:nginx:/nonexistent:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
nginx:x:101:
nogroup:x:65534:
EOF
  echo 'hosts: files dns' >"$r/etc/nsswitch.conf"
}

# with_busybox ROOT: /bin/busybox and a link for each of its applets (sh, ls, ping, nslookup, nc, ...).
with_busybox() {
  local r=$1 applet
  install -m 755 /usr/bin/busybox "$r/bin/busybox"
  while read -r applet; do
    [ -n "$applet" ] || continue
    [ -e "$r/$applet" ] || [ -L "$r/$applet" ] || { mkdir -p "$r/$(dirname "$applet")"; ln -s /bin/busybox "$r/$applet"; }
  done < <(/usr/bin/busybox --list-full)
}

# with_libs ROOT BINARY...: copies each binary to the same path under ROOT with every library ldd
# lists and the dynamic loader (symbolic links resolved: the files are copied under the names the
# loader looks for).
with_libs() {
  local r=$1 bin lib
  shift
  for bin in "$@"; do
    mkdir -p "$r/$(dirname "$bin")"
    cp -L "$bin" "$r/$bin"
    while read -r lib; do
      [ -n "$lib" ] || continue
      [ -e "$r/$lib" ] && continue
      mkdir -p "$r/$(dirname "$lib")"
      cp -L "$lib" "$r/$lib"
    done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
  done
}

# ---- the images ---------------------------------------------------------------------------------

build_pause() {
  local r=$1
  mkdir -p "$r"
  gcc -static -O2 -Wall -Wextra -Werror -o "$r/pause" "$HERE/pause.c"
  strip "$r/pause"
  python3 "$HERE/mkoci.py" "$r" "$2" --ref 3.2 --entrypoint '["/pause"]'
}

build_busybox() {
  local r=$1
  skeleton "$r"
  with_busybox "$r"
  python3 "$HERE/mkoci.py" "$r" "$2" --ref latest --cmd '["sh"]'
}

# with_nginx ROOT: Debian's nginx serving the welcome page on port 80, logging to stdout and stderr.
with_nginx() {
  local r=$1
  with_libs "$r" /usr/sbin/nginx
  mkdir -p "$r"/etc/nginx/conf.d "$r"/usr/share/nginx/html "$r"/var/log/nginx "$r"/var/cache/nginx \
    "$r"/var/lib/nginx/{body,fastcgi,proxy,scgi,uwsgi}
  cp /etc/nginx/mime.types "$r/etc/nginx/mime.types"
  # As the upstream image: the logs are the container's stdout and stderr.
  ln -s /dev/stdout "$r/var/log/nginx/access.log"
  ln -s /dev/stderr "$r/var/log/nginx/error.log"
  cat >"$r/etc/nginx/nginx.conf" <<'EOF'
user nginx;
worker_processes 1;
error_log /dev/stderr notice;
pid /run/nginx.pid;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" "$http_user_agent"';
    access_log /dev/stdout main;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}
EOF
  cat >"$r/etc/nginx/conf.d/default.conf" <<'EOF'
server {
    listen 80;
    server_name localhost;
    location / {
        root /usr/share/nginx/html;
        index index.html index.htm;
    }
}
EOF
  cat >"$r/usr/share/nginx/html/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. (The vcluster-cpp test bed's image: Debian's nginx.)</p>
</body>
</html>
EOF
}

build_nginx() {
  local r=$1
  skeleton "$r"
  with_busybox "$r"
  with_nginx "$r"
  python3 "$HERE/mkoci.py" "$r" "$2" --ref latest --cmd '["nginx", "-g", "daemon off;"]' \
    --port 80/tcp --stop-signal SIGQUIT
}

# The article's cr7258/nettool runs nginx (its users curl it and read "Welcome to nginx!") and carries the
# network tools; so does this one, from Debian's packages.
build_nettool() {
  local r=$1
  skeleton "$r"
  with_busybox "$r"
  with_libs "$r" /usr/bin/curl
  with_nginx "$r"
  python3 "$HERE/mkoci.py" "$r" "$2" --ref v1 --cmd '["nginx", "-g", "daemon off;"]' \
    --port 80/tcp --stop-signal SIGQUIT
}

# NAME VERSION BUILDER "REPOSITORY:TAG ..."
IMAGES=(
  "pause 3.2 build_pause pause:3.2"
  "busybox $(pkg_version busybox-static) build_busybox library/busybox:latest"
  "nginx $(pkg_version nginx) build_nginx library/nginx:latest,library/nginx:1.14.2"
  "nettool v1-curl$(pkg_version curl)-nginx$(pkg_version nginx) build_nettool cr7258/nettool:v1"
)

mkdir -p "$IMAGES_DIR"
exec 9>"$IMAGES_DIR/.lock"
flock -w 600 9 || die "could not lock $IMAGES_DIR/.lock within 600 s (another build.sh?)"
for spec in "${IMAGES[@]}"; do
  read -r name version builder refs <<<"$spec"
  dir=$IMAGES_DIR/$name-$version
  if [ -f "$dir/oci/index.json" ] && [ "$(cat "$dir/recipe" 2>/dev/null)" = "$RECIPE" ]; then
    continue
  fi
  log "building image $name ($version) into $dir"
  tmp=$IMAGES_DIR/.build-$name-$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  "$builder" "$tmp/rootfs" "$tmp/oci" 2>"$tmp/build.log" || { cat "$tmp/build.log" >&2; rm -rf "$tmp"; die "building image $name failed"; }
  rm -rf "$tmp/rootfs" "$tmp/build.log"
  echo "$RECIPE" >"$tmp/recipe"
  echo "$refs" | tr ',' '\n' >"$tmp/refs"
  rm -rf "$dir"
  mv "$tmp" "$dir"
done
flock -u 9

if ((LIST)); then
  for spec in "${IMAGES[@]}"; do
    read -r name version builder refs <<<"$spec"
    for ref in ${refs//,/ }; do echo "$IMAGES_DIR/$name-$version/oci $ref"; done
  done
fi
