#!/usr/bin/env bash
# Checks that every file of the project that starts with "#!" is executable, as committed: a clone gets the
# mode git recorded, so `./scripts/demo.sh` (the README's main job) fails with "Permission denied" otherwise.
# Usage: scripts/check-shebangs.sh [SOURCE_ROOT]   (names each file, with the fix; exit 1 if any)
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2
bad=0 n=0
report() {
  echo "not executable: $1 (fix: $2)"
  bad=$((bad + 1))
}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # The index's mode is what a commit records and a clone checks out.
  while read -r mode _ _ path; do
    [ -f "$path" ] && [ "$(head -c2 "$path" | tr -d '\0')" = "#!" ] || continue
    n=$((n + 1))
    [ "$mode" = 100755 ] || report "$path" "git update-index --chmod=+x $path"
  done < <(git ls-files -s)
else
  while read -r path; do
    [ "$(head -c2 "$path" | tr -d '\0')" = "#!" ] || continue
    n=$((n + 1))
    [ -x "$path" ] || report "$path" "chmod +x $path"
  done < <(find . -path './build*' -prune -o -path ./.git -prune -o -type f -print)
fi
echo "check-shebangs: $n scripts, $bad not executable"
[ "$bad" = 0 ]
