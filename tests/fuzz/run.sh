#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (a build directory of their own, -Dfuzz=true) and runs each one
# for a while from its seed corpus (corpus/<target>/). Fails on any crash, sanitizer report or leak, printing
# the input that caused it (kept as a file: make it a unit test, then add it to the corpus).
#
# Usage: tests/fuzz/run.sh [--seconds N] [--build-dir DIR] [TARGET...]
#   --seconds N     how long each target runs (default 60, as in CI; $VC_FUZZ_SECONDS also sets it)
#   --build-dir DIR the clang build (default ./build-fuzz, beside ./build)
#   TARGET          json, watch, values, kubeconfig, http, dns (default: all)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

seconds=${VC_FUZZ_SECONDS:-60}
build=$VC_ROOT/build-fuzz
targets=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    -*) die "run.sh: unknown flag '$1' (known: --seconds N, --build-dir DIR)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
here=$VC_ROOT/tests/fuzz
if ((${#targets[@]} == 0)); then
  for f in "$here"/*_fuzz.cpp; do t=$(basename "$f" _fuzz.cpp); targets+=("$t"); done
fi
command -v clang++ >/dev/null || die "clang++ is missing: apt-get install clang libclang-rt-14-dev (scripts/apt-deps.sh does)"

if [ ! -f "$build/build.ninja" ]; then
  log "meson setup $build (clang, -Dfuzz=true)"
  rm -rf "$build"
  CC=clang CXX=clang++ meson setup "$build" "$VC_ROOT" -Dfuzz=true -Dintegration=false >/dev/null
fi
ninja_targets=()
for t in "${targets[@]}"; do
  [ -f "$here/${t}_fuzz.cpp" ] || die "run.sh: no fuzz target '$t' (tests/fuzz/${t}_fuzz.cpp)"
  ninja_targets+=("tests/fuzz/${t}_fuzz")
done
log "building ${targets[*]}"
ninja -C "$build" "${ninja_targets[@]}" >/dev/null || { ninja -C "$build" "${ninja_targets[@]}" | tail -30 >&2; die "fuzz build failed"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
for t in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the checked-in seeds are only read.
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  log "fuzzing $t for ${seconds}s"
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" "$here/corpus/$t" \
    >"$work/$t/log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log" | tail -1)
  if ((rc == 0)) && ! ls "$work/$t/artifacts/"* >/dev/null 2>&1; then
    passed=$((passed + 1))
    echo "ok - $t: ${runs:-?} inputs in ${seconds}s, $(find "$work/$t/corpus" -type f | wc -l) new corpus entries, no crash"
  else
    failed=$((failed + 1))
    echo "not ok - $t (exit $rc)"
    grep -E "ERROR|SUMMARY|runtime error|#[0-9]+ 0x" "$work/$t/log" | head -30
    for a in "$work/$t/artifacts/"*; do
      [ -f "$a" ] || continue
      mkdir -p "$VC_CACHE/fuzz-crashes"
      cp "$a" "$VC_CACHE/fuzz-crashes/$t-$(basename "$a")"
      echo "  input kept as $VC_CACHE/fuzz-crashes/$t-$(basename "$a"); first bytes:"
      head -c 256 "$a" | od -c | head -8 | sed 's/^/    /'
    done
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
