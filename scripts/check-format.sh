#!/usr/bin/env bash
# Checks that every C and C++ source of the project is formatted as .clang-format says.
# Usage: scripts/check-format.sh [SOURCE_ROOT]   (prints each file that differs, with the fix; exit 1 if any)
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format is not installed; scripts/apt-deps.sh installs it (Debian package clang-format)" >&2
  exit 2
fi
# The tracked sources when this is a git checkout, else every source outside build directories.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp')
else
  mapfile -t files < <(find . -path './build*' -prune -o -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) -print)
fi
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (fix: clang-format -i $f)"
    bad=$((bad + 1))
  fi
done
echo "check-format: ${#files[@]} files, $bad not formatted"
[ "$bad" = 0 ]
