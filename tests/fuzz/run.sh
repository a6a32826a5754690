#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang, ASan and UBSan in
# build-fuzz/, then runs each one for SECONDS (default 20) on a copy of its seed corpus
# (tests/fuzz/corpus/<name>/; the repository is never written). A target passes when it
# finds no crash, leak, timeout or invariant failure. Ends with "N passed, N failed".
#
#   tests/fuzz/run.sh [SECONDS]
#   FUZZ_JOBS=1 tests/fuzz/run.sh 60     # one target at a time (default: 2 at once)
#   FUZZ_TARGETS="url signature" tests/fuzz/run.sh
#
# Needs clang-14, libclang-rt-14-dev (libFuzzer and the sanitizer runtimes) and llvm-14
# (llvm-symbolizer, for readable stacks); installs nothing itself.
set -uo pipefail

SECONDS_PER_TARGET="${1:-20}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [[ "$SECONDS_PER_TARGET" -lt 1 ]]; then
    echo "usage: $0 [SECONDS]" >&2
    exit 2
fi
JOBS="${FUZZ_JOBS:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build-fuzz"
FUZZ_DIR="$ROOT/tests/fuzz"

CXX_FOR_FUZZ="${FUZZ_CXX:-}"
if [[ -z "$CXX_FOR_FUZZ" ]]; then
    for candidate in clang++-14 clang++; do
        if command -v "$candidate" >/dev/null; then CXX_FOR_FUZZ="$(command -v "$candidate")"; break; fi
    done
fi
if [[ -z "$CXX_FOR_FUZZ" ]]; then
    echo "clang++ not found: install clang-14 and libclang-rt-14-dev" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

echo "== building fuzz targets with $CXX_FOR_FUZZ in $BUILD"
build_start=$(date +%s)
mkdir -p "$BUILD"
if ! cmake -S "$ROOT" -B "$BUILD" -DPLIVO_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX_FOR_FUZZ" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD/configure.log" 2>&1; then
    cat "$BUILD/configure.log"
    echo "cmake configure failed (a clang without libclang-rt-14-dev cannot link -fsanitize=fuzzer)"
    echo "0 passed, 1 failed"
    exit 1
fi
rm -f "$BUILD/configure.log"
if ! cmake --build "$BUILD" --target fuzz_targets -j "$JOBS"; then
    echo "build of the fuzz targets failed"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "== built in $(( $(date +%s) - build_start )) s"

# Readable stacks, leaks reported, any UB a crash.
SYMBOLIZER="$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}"

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    read -r -a names <<<"$FUZZ_TARGETS"
else
    names=()
    for source in "$FUZZ_DIR"/fuzz_*.cpp; do
        name="$(basename "$source" .cpp)"
        names+=("${name#fuzz_}")
    done
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/plivo-fuzz.XXXXXX")"
echo "== fuzzing ${#names[@]} targets for $SECONDS_PER_TARGET s each, $JOBS at a time, in $WORK"

# One target: its corpus copied to $WORK/<name>/corpus, crash files in $WORK/<name>/.
run_target() {
    local name="$1" dir="$WORK/$1"
    mkdir -p "$dir/corpus"
    if [[ -d "$FUZZ_DIR/corpus/$name" ]]; then cp -R "$FUZZ_DIR/corpus/$name/." "$dir/corpus/"; fi
    # A fixed seed (FUZZ_SEED, 1 by default) keeps a CI run repeatable: the same inputs
    # in the same order; FUZZ_SEED=0 lets libFuzzer pick one, for exploring by hand.
    "$BUILD/fuzz_$name" "$dir/corpus" -seed="${FUZZ_SEED:-1}" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" >"$dir/log" 2>&1
    echo $? >"$dir/rc"
}

running=0
for name in "${names[@]}"; do
    if [[ ! -x "$BUILD/fuzz_$name" ]]; then
        mkdir -p "$WORK/$name"; echo "no such target: fuzz_$name" >"$WORK/$name/log"; echo 127 >"$WORK/$name/rc"
        continue
    fi
    run_target "$name" &
    running=$((running + 1))
    if [[ $running -ge $JOBS ]]; then wait -n; running=$((running - 1)); fi
done
wait

passed=0
failed=0
for name in "${names[@]}"; do
    dir="$WORK/$name"
    rc="$(cat "$dir/rc" 2>/dev/null || echo 1)"
    runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$dir/log" | grep -oE '[0-9]+$' || true)"
    crash="$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -n1)"
    if [[ "$rc" == 0 && -z "$crash" ]]; then
        passed=$((passed + 1))
        echo "PASS fuzz_$name (${runs:-?} runs, corpus $(ls "$dir/corpus" | wc -l) inputs)"
        continue
    fi
    failed=$((failed + 1))
    echo "FAIL fuzz_$name (exit $rc)"
    # The stack: from the sanitizer's or our invariant's first line on.
    if grep -qE '==ERROR|runtime error:|FUZZ INVARIANT FAILED|ALARM|out-of-memory|deadly signal' "$dir/log"; then
        awk '/==ERROR|runtime error:|FUZZ INVARIANT FAILED|ALARM|out-of-memory|deadly signal/ {show=1} show' \
            "$dir/log" | head -n 80
    else
        tail -n 40 "$dir/log"
    fi
    if [[ -n "$crash" ]]; then
        echo "  reproducer: $crash"
        echo "  replay it:  $BUILD/fuzz_$name $crash"
        echo "  once fixed, keep it as a regression seed:"
        echo "    cp $crash $FUZZ_DIR/corpus/$name/regression-$(basename "$crash" | cut -c1-20)"
    fi
done

if [[ $failed -eq 0 ]]; then rm -rf "$WORK"; else echo "inputs and logs kept in $WORK"; fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
