#!/usr/bin/env bash
# Failover benchmark: astha vs Corosync + Pacemaker in the namespace harness, faults at random
# phases of the probe cycle, p50 / p95 / max. Writes (or replaces) the "## Failover" section of
# BENCHMARKS.md. Needs root. Usage: sudo scripts/bench-failover.sh [failover-bench args]
#   emulated Asterisks, Pacemaker with ocf:heartbeat:anything, token 3000 and 1000 (~20-30 min):
#        scripts/bench-failover.sh --runs 5 --faults node-loss,hang
#   real Asterisk 22 (scripts/asterisk.sh), astha warm and cold, Pacemaker with the stock
#   ocf:heartbeat:asterisk agent and with contrib/ocf/astha-asterisk (a stock-agent hang takes
#   ~1.5 min per run, an astha call-path run ~50 s; the BENCHMARKS.md table ran astha and each
#   agent as invocations of their own side by side, ~80 min, then merged them with --from-log):
#        scripts/bench-failover.sh --asterisk real --standby warm,cold --runs 20 \
#            --pacemaker-agents stock,astha --tokens 3000 --pacemaker-runs 20 \
#            --faults hang,crash,node-loss,call-path,sip-stack-gone
#   every run is a line on stderr; tables from the logs of several invocations:
#        scripts/bench-failover.sh --from-log astha.log --from-log pacemaker.log
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "bench-failover: needs root (network namespaces); run: sudo $0 $*" >&2
  exit 2
fi
for tool in ip ping arping corosync pacemakerd cibadmin crm_attribute nsenter unshare; do
  command -v "$tool" >/dev/null || { echo "bench-failover: '$tool' missing; run scripts/setup.sh" >&2; exit 2; }
done
# shellcheck source=scripts/lib/bench-section.sh
source scripts/lib/bench-section.sh
run_bench_section bench-failover failover-bench "Failover" "$@"
