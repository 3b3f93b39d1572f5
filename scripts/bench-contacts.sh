#!/usr/bin/env bash
# Phones after a takeover: how soon 50 phones registered through the floating IP on A receive
# calls through B after A's Asterisk crashes, with astha's contact mirror and without it (real
# Asterisk 22 pair, sipp phones). Writes (or replaces) the "## Phones after a takeover" section
# of BENCHMARKS.md. Needs root and a real Asterisk (scripts/asterisk.sh); about 2 min per run.
# Usage: sudo scripts/bench-contacts.sh [contacts-bench args], e.g. --runs 3 --phones 50
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "bench-contacts: needs root (network namespaces); run: sudo $0 $*" >&2
  exit 2
fi
command -v sipp >/dev/null || { echo "bench-contacts: 'sipp' missing; run scripts/setup.sh" >&2; exit 2; }
ASTHA_ASTERISK_BIN=${ASTHA_ASTERISK_BIN:-$(scripts/asterisk.sh)}
export ASTHA_ASTERISK_BIN
# shellcheck source=scripts/lib/bench-section.sh
source scripts/lib/bench-section.sh
run_bench_section bench-contacts contacts-bench "Phones after a takeover" "$@"
