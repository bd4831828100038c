#!/usr/bin/env bash
#
# Benchmarks/compare-builds.sh — which of two builds spends less CPU per request.
#
# Runs two TrellisBenchmarks binaries' `request-path` scenario AT THE SAME TIME, each with its
# own servers and wrk, on the same Postgres and Redis, for PAIRS pairs (which binary starts
# first alternates), and prints each route's row from both, then the ratio B/A of the server
# CPU µs per request: per pair and their median.
#
# Why at the same time: on the 2-core VM the machine's speed drifts by 10-25% within minutes, so
# runs one after the other (even interleaved) cannot see a 5% change. Two runs side by side
# share whatever speed the machine has at that moment; a build against itself gives ratios
# within about 2% (measured 2026-12-04). The absolute figures are those of a machine loaded
# twice over: use `request-path` alone for those.
#
# usage: Benchmarks/compare-builds.sh A B [ROUTES [SECONDS [PAIRS]]]
#   A, B      TrellisBenchmarks binaries (release builds)
#   ROUTES    comma-separated request-path routes (default get)
#   SECONDS   seconds per route (default 20; 3 s of warm-up first)
#   PAIRS     pairs of runs (default 4)
# Environment: DATABASE_URL and DATABASE_OWNER_URL as for `request-path`; REDIS_URL (optional)
# for the cached routes.
set -euo pipefail

if [ $# -lt 2 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
fi
a=$1 b=$2 routes=${3:-get} seconds=${4:-20} pairs=${5:-4}
for binary in "$a" "$b"; do
    [ -x "$binary" ] || { echo "compare-builds: '$binary' is not an executable" >&2; exit 2; }
done
: "${DATABASE_URL:?compare-builds: set DATABASE_URL (see Benchmarks/README.md, request-path)}"
redis=()
[ -n "${REDIS_URL:-}" ] && redis=(--redis-url "$REDIS_URL")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pattern="^($(echo "$routes" | tr , '|')) "

run() { # binary output
    "$1" request-path --seconds "$seconds" --rounds 1 --warmup 3 --only "$routes" "${redis[@]}" > "$2" 2>&1
}
rows() { # output: the result rows
    sed -n '/^results/,/^memory/p' "$1" | grep -E "$pattern" || { echo "compare-builds: no results in this run:" >&2; tail -5 "$1" >&2; exit 1; }
}

for pair in $(seq 1 "$pairs"); do
    if [ $((pair % 2)) -eq 1 ]; then first=$a second=$b; else first=$b second=$a; fi
    run "$first" "$work/first" &
    first_pid=$!
    run "$second" "$work/second" &
    second_pid=$!
    wait "$first_pid" "$second_pid"
    if [ "$first" = "$a" ]; then cp "$work/first" "$work/a.$pair"; cp "$work/second" "$work/b.$pair"
    else cp "$work/second" "$work/a.$pair"; cp "$work/first" "$work/b.$pair"; fi
    echo "== pair $pair ($( [ "$first" = "$a" ] && echo "A" || echo "B") started first)"
    echo "   route        req/s       p50       p99   server µs   Postgres µs"
    rows "$work/a.$pair" | sed 's/^/A  /'
    rows "$work/b.$pair" | sed 's/^/B  /'
done

echo "== B/A server CPU µs per request (below 1: B spends less)"
for route in $(echo "$routes" | tr , ' '); do
    ratios=()
    for pair in $(seq 1 "$pairs"); do
        ua=$(rows "$work/a.$pair" | awk -v r="$route" '$1 == r { print $5 }')
        ub=$(rows "$work/b.$pair" | awk -v r="$route" '$1 == r { print $5 }')
        ratios+=("$(awk -v x="$ua" -v y="$ub" 'BEGIN { printf "%.3f", y / x }')")
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    echo "$route: ${ratios[*]}  median $median"
done
