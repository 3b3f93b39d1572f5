#!/usr/bin/env bash
# The lifecycle scenarios of issue 13, several runs each, with a real Asterisk 22 where there is
# one: cold takeover (Asterisk boot included) on a crash of the active, the active's LAN alone
# failing, the active alone losing its reachability target (the gateway), and two restarts of the active's daemon. Prints p50/p95/max of the timings the
# scenarios print (TIMING lines). Needs root. Usage: sudo scripts/bench-lifecycle.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
if [[ $(id -u) -ne 0 ]]; then
  echo "bench-lifecycle: needs root (network namespaces); run: sudo $0 $*" >&2
  exit 2
fi
ASTHA_ASTERISK_BIN=${ASTHA_ASTERISK_BIN:-$(scripts/asterisk.sh 2>/dev/null || true)}
export ASTHA_ASTERISK_BIN
cargo build -q -p astha --bin astha
cargo build -q -p astha-tests --bin fake-asterisk --bin relay-sim --test lifecycle
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for filter in 'cold_standby_survives_a_crash_of_the_active::real' \
              'cutting_only_the_lan_of_the_active' \
              'an_active_that_no_longer_reaches_the_gateway' \
              'restarting_or_upgrading_the_active_moves_no_call::real'; do
  for ((i = 1; i <= runs; i++)); do
    cargo nextest run --cargo-quiet -p astha-tests --test lifecycle --no-capture -E "test(/$filter/)" 2>&1 \
      | grep '^TIMING' | tee -a "$log" || true
  done
done
python3 - "$log" <<'PY'
import re, sys, collections
series = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"TIMING (\S+): (.*)", line)
    if not m:
        continue
    test, rest = m.groups()
    for name, ms in re.findall(r"([A-Za-z][A-Za-z -]*?) (\d+) ms", rest):
        series[(test, name.strip())].append(int(ms))
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"{'scenario':60} {'timing':28} {'n':>3} {'p50':>6} {'p95':>6} {'max':>6}  (ms)")
for (test, name), xs in sorted(series.items()):
    print(f"{test:60} {name:28} {len(xs):>3} {pct(xs,50):>6} {pct(xs,95):>6} {max(xs):>6}")
PY
