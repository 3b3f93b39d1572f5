#!/usr/bin/env bash
# Soak benchmark on a loaded host: two real Asterisk 22 servers carrying sipp calls (20 new/s,
# 10 s each: ~200 at once) while stress-ng saturates a host (every core, memory, disk I/O);
# counts takeovers and false verdicts per probe (10 min per scenario: the active's host
# saturated, the standby's, and the active's with 5 % peer-link loss), then measures hang and
# node-death detection with the active's host saturated over random-phase injections
# (p50/p95/p99/max). By default each server is pinned to half the CPUs, its "host" (--hosts
# shared: everything on every CPU, both servers loaded together). Writes (or replaces) the
# "## Soak (loaded host)" section of BENCHMARKS.md. Needs root, a real Asterisk
# (scripts/asterisk.sh), stress-ng and nft (scripts/setup.sh). Takes ~45 min by default;
# --short: 1 min per scenario. --minutes 0 measures detection only.
# Usage: sudo scripts/bench-soak.sh [--short] [soak-bench args: --minutes N --injections N
#        --faults hang,node-loss --hosts pinned|shared --rate N --hold-ms N]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "bench-soak: needs root (network namespaces); run: sudo $0 $*" >&2
  exit 2
fi
for tool in ip sipp stress-ng nft chrt choom renice taskset; do
  command -v "$tool" >/dev/null || { echo "bench-soak: '$tool' missing; run scripts/setup.sh" >&2; exit 2; }
done
args=()
for a in "$@"; do
  if [[ $a == --short ]]; then args+=(--minutes 1); else args+=("$a"); fi
done
ASTHA_ASTERISK_BIN=${ASTHA_ASTERISK_BIN:-$(bash scripts/asterisk.sh)}
export ASTHA_ASTERISK_BIN
# shellcheck source=scripts/lib/bench-section.sh
source scripts/lib/bench-section.sh
run_bench_section bench-soak soak-bench "Soak (loaded host)" "${args[@]}"
