#!/usr/bin/env bash
# make bench: runs every benchmark built in BUILD_DIR (Release, -DHALONG_BENCH=ON). Each one
# prints its figures next to the baseline it measured in the same run; docs/benchmarks.md
# says how to read them. Benchmarks that need ../shared/corpus say so and skip.
set -uo pipefail
cd "$(dirname "$0")/.."
B="${1:-build-bench}/bench"
run() { echo; echo "== $*"; "$@" || echo "(exit $?)"; }
[ -x "$B/decode/bench_decode" ] && run "$B/decode/bench_decode" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
[ -x "$B/net/bench_net" ] && run "$B/net/bench_net" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
[ -x "$B/sigma/bench_sigma" ] && run "$B/sigma/bench_sigma" --reps 15
[ -x "$B/store/halong_bench_store" ] && run "$B/store/halong_bench_store"
[ -x "$B/ingest/halong_bench_ingest" ] && run "$B/ingest/halong_bench_ingest" --agents 1,100,1000 --alerts 400000
[ -x "$B/ingest/halong_bench_ingest" ] && run "$B/ingest/halong_bench_ingest" --agents 1000 --alerts 400000 --warm 2
[ -x "$B/ingest/halong_bench_ingest" ] && run "$B/ingest/halong_bench_ingest" --agents 1,100,1000 --alerts 400000 --warm 2 --groups 97
exit 0
