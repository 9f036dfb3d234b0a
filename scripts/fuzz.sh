#!/usr/bin/env bash
# Builds plaid's libFuzzer harnesses (Fuzz/) and runs them.
#
#   scripts/fuzz.sh [SECONDS] [-- LIBFUZZER-FLAGS...]
#       Replays the regression inputs and the seed corpora, then fuzzes each harness for SECONDS
#       (default 60) on a copy of its seed corpus (Fuzz/Corpus/<harness>/ is never written to).
#   scripts/fuzz.sh --replay [DIR]
#       Only replays: every file under DIR/<harness>/ (default Fuzz/Regressions/) and the seed
#       corpora, each input once. This is the CI check that fixed crashes stay fixed.
#   scripts/fuzz.sh --build
#       Only builds.
#
# Environment: FUZZ_HARNESSES="fuzz-npy fuzz-filter" runs only those; FUZZ_TIMEOUT is the seconds
# one input may take before it counts as a hang (default 20); FUZZ_JOBS the build's -j.
# Flags after `--` go to every libFuzzer run (e.g. `-- -runs=1000000` to stop at a count).
#
# Exits non-zero when any input crashes (a trap, an ASan report, a leak), hangs past FUZZ_TIMEOUT
# or runs out of memory (2 GB). Crashing inputs are kept under .build-fuzz/artifacts/<harness>/
# (ignored by git) and printed; to keep one as a regression input, copy it to
# Fuzz/Regressions/<harness>/. Logs are in .build-fuzz/logs/.
#
# How the harnesses are built, and why: the parsers' types are mostly `internal`, so each harness
# is an executable target of its own package, Fuzz/ (beside Benchmarks/, depending on the root
# package by path), that `@testable import`s the module it fuzzes. SwiftPM builds it with
# `--sanitize fuzzer --sanitize address` (libFuzzer's `main`, ASan in every module, plaid's and its
# dependencies'), `-sanitize-coverage=...` (the coverage libFuzzer steers by; see build_args) and
# `-enable-testing` (for `@testable`), in release mode (a debug
# build runs several times slower per input). A harness file is not named main.swift, so SwiftPM
# compiles it as a library file: it has no `main` of its own, and no `plaid` executable is linked
# in since the harnesses depend on the library products only. Everything goes to .build-fuzz/,
# so the root package's own `swift build` / `swift test` (.build/) are not touched. Scratch files
# the harnesses write (the parsers read paths) go to /dev/shm when there is one: a file write on
# the disk costs more than a parse.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_HARNESSES=(fuzz-json-request fuzz-text-collection fuzz-metadata-jsonl fuzz-npy fuzz-safetensors
               fuzz-tokenizer fuzz-component fuzz-filter)
read -r -a HARNESSES <<< "${FUZZ_HARNESSES:-${ALL_HARNESSES[*]}}"
BUILD=.build-fuzz
TIMEOUT="${FUZZ_TIMEOUT:-20}"

mode=fuzz
seconds=60
replay_dir=Fuzz/Regressions
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --replay) mode=replay; if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then replay_dir="$2"; shift; fi ;;
        --build) mode=build ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *[!0-9]*|'') echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        *) seconds="$1" ;;
    esac
    shift
done

started=$(date +%s)
echo "fuzz: building ${#HARNESSES[@]} harness(es) into $BUILD/" >&2
# swiftc 6.3's -sanitize=fuzzer adds no coverage instrumentation to a module compiled on its own
# (-c, as SwiftPM does): without -sanitize-coverage only the C kernels were instrumented and
# libFuzzer mutated blind.
build_args=(--package-path Fuzz --build-path "$BUILD" -c release --sanitize fuzzer --sanitize address
            -Xswiftc -enable-testing -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp)
[ -n "${FUZZ_JOBS:-}" ] && build_args+=(-j "$FUZZ_JOBS")
# SwiftPM does not rebuild when only -Xswiftc flags change: a build made with other flags is
# dropped (the cloned packages are kept).
mkdir -p "$BUILD"
if [ "$(cat "$BUILD/flags" 2>/dev/null)" != "${build_args[*]}" ]; then
    rm -rf "$BUILD/x86_64-unknown-linux-gnu" "$BUILD/release" "$BUILD/release.yaml" "$BUILD/build.db"
    echo "${build_args[*]}" > "$BUILD/flags"
fi
products=()
# One build of everything unless some harnesses were picked.
[ ${#HARNESSES[@]} -eq ${#ALL_HARNESSES[@]} ] || for harness in "${HARNESSES[@]}"; do products+=(--product "$harness"); done
build() {
    swift build "${build_args[@]}" "$@" 2>&1 | { grep -v "Cannot export local symbol '__asan_extra_spill_area'" >&2 || true; }
}
if [ ${#products[@]} -eq 0 ]; then
    build || { echo "fuzz: the build failed" >&2; exit 1; }
else
    for ((i = 0; i < ${#products[@]}; i += 2)); do
        build "${products[i]}" "${products[i + 1]}" || { echo "fuzz: the build failed" >&2; exit 1; }
    done
fi
echo "fuzz: built in $(( $(date +%s) - started )) s" >&2
[ "$mode" = build ] && exit 0

BIN="$BUILD/release"
SCRATCH_BASE=/dev/shm
[ -d "$SCRATCH_BASE" ] && [ -w "$SCRATCH_BASE" ] || SCRATCH_BASE="$ROOT/$BUILD"
SCRATCH="$(mktemp -d "$SCRATCH_BASE/plaid-fuzz.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export TMPDIR="$SCRATCH"
# Swift's own backtracer would race ASan on a trap; libFuzzer prints the stack instead.
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$ROOT/Fuzz/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
mkdir -p "$BUILD/logs" "$BUILD/artifacts"

failures=()
summary=()

# Runs one input set through a harness once each; fails on the first input that crashes.
replay() {
    local harness="$1"; shift
    local files=()
    for dir in "$@"; do
        [ -d "$dir" ] || continue
        while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir" -type f ! -name '.*' ! -name '*.md' -print0 | sort -z)
    done
    [ ${#files[@]} -gt 0 ] || return 0
    local log="$BUILD/logs/$harness.replay.log"
    if "$BIN/$harness" -timeout="$TIMEOUT" -rss_limit_mb=2048 "${files[@]}" >"$log" 2>&1; then
        echo "fuzz: $harness: ${#files[@]} input(s) replayed, no crash" >&2
    else
        local culprit
        culprit=$(grep -o 'Running: .*' "$log" | tail -1 | cut -d' ' -f2-)
        echo "fuzz: $harness: CRASH replaying ${culprit:-an input} (log: $log)" >&2
        grep -m1 -E 'Swift runtime failure|ERROR: (AddressSanitizer|LeakSanitizer)|Fatal error|Precondition failed|ERROR: libFuzzer' "$log" | sed 's/^/fuzz:     /' >&2 || true
        failures+=("$harness (replay of ${culprit:-?})")
    fi
}

for harness in "${HARNESSES[@]}"; do
    replay "$harness" "$replay_dir/$harness" "Fuzz/Corpus/$harness"
done

if [ "$mode" = fuzz ]; then
    for harness in "${HARNESSES[@]}"; do
        corpus="$SCRATCH/corpus-$harness"
        rm -rf "$corpus"; cp -R "Fuzz/Corpus/$harness" "$corpus"
        artifacts="$BUILD/artifacts/$harness"
        mkdir -p "$artifacts"
        log="$BUILD/logs/$harness.log"
        echo "fuzz: $harness: fuzzing for $seconds s (log: $log)" >&2
        status=0
        "$BIN/$harness" -max_total_time="$seconds" -timeout="$TIMEOUT" -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$artifacts/" "${extra[@]}" "$corpus" >"$log" 2>&1 || status=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        line="$harness: ${execs:-?} execs (${speed:-?}/s)"
        if [ $status -ne 0 ]; then
            input=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | awk '{print $NF}')
            echo "fuzz: $harness: FAILED (exit $status); input: ${input:-see the log}" >&2
            grep -m1 -E 'Swift runtime failure|ERROR: (AddressSanitizer|LeakSanitizer)|Fatal error|Precondition failed|ERROR: libFuzzer' "$log" | sed 's/^/fuzz:     /' >&2 || true
            failures+=("$harness (${input:-see $log})")
            line="$line, FAILED: ${input:-see $log}"
        else
            line="$line, no crash"
        fi
        summary+=("$line")
    done
    echo "fuzz: summary" >&2
    for line in "${summary[@]}"; do echo "fuzz:   $line" >&2; done
fi

echo "fuzz: done in $(( $(date +%s) - started )) s" >&2
if [ ${#failures[@]} -gt 0 ]; then
    echo "fuzz: ${#failures[@]} failure(s):" >&2
    for f in "${failures[@]}"; do echo "fuzz:   $f" >&2; done
    exit 1
fi
