#!/usr/bin/env bash
# AMI event-stream receive/parse benchmark.
#
#   ./run.sh [N] [RUNS] [CLIENT...]
#
# N     events per run (default 1000000); per-client override: N_<key>=..., e.g.
#       N_asterisk_ami_client=300000 ./run.sh
# RUNS  runs per client (default 3)
# CLIENT  subset of keys to run (default: all), see CLIENTS below.
#
# For every client a fresh ami_stream_server.py is started on a free 127.0.0.1
# port; each run is wrapped in /usr/bin/time -v (peak RSS, CPU).  Raw logs go
# to results/<UTC timestamp>/, the table to stdout and results/<ts>/table.md.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD

# This project's client: ami-client/examples/stream_bench.rs, built in release mode below.
REPO=$(cd ../.. && pwd)
OURS=${OURS:-$REPO/target/release/examples/stream_bench}

N_DEFAULT=${1:-1000000}
RUNS=${2:-3}
shift $(( $# >= 2 ? 2 : $# )) || true
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-600}
PY=${PYTHON:-python3}

# key | label | command (PORT is substituted)
CLIENTS=(
  "socat|socat -u drain (no login, server closes at end)|socat -u TCP:127.0.0.1:PORT /dev/null"
  "raw_rs|raw-rs (memmem count, no parsing)|rs/target/release/raw_rs PORT"
  "raw_py|raw-py (bytes.count, no parsing)|$PY clients/raw_py.py PORT"
  "asterisk_rs_ami|asterisk-rs-ami 0.8.0 (Rust, multi-thread rt, default event_capacity=1024)|rs/target/release/asterisk_rs_ami PORT"
  "asterisk_rs_ami_cap64k|asterisk-rs-ami 0.8.0 (Rust, multi-thread rt, event_capacity=65536)|rs/target/release/asterisk_rs_ami PORT 65536"
  "asterisk_rs_ami_current|asterisk-rs-ami 0.8.0 (Rust, current_thread runtime, default capacity)|env AMI_BENCH_RT=current rs/target/release/asterisk_rs_ami PORT"
  "panoramisk|panoramisk 1.4 (Python asyncio)|.venv/bin/python clients/panoramisk_client.py PORT"
  "asterisk_manager|asterisk-manager 0.2.0 (Node)|node node/asterisk_manager_client.js PORT"
  "asterisk_ami_client|asterisk-ami-client 1.1.5 (Node)|node node/asterisk_ami_client.js PORT"
  "ours|ami-client (this project, current_thread rt)|$OURS PORT"
  "ours_mt|ami-client (this project, multi-thread rt)|env AMI_BENCH_RT=multi $OURS PORT"
)

# More clients from the environment, one "key|label|command" per line (PORT is
# substituted), e.g. the project's own:
#   EXTRA_CLIENTS='ours|ami-client (this project)|/path/to/stream_bench PORT' ./run.sh 1000000 3 ours asterisk_rs_ami raw_rs
# A client connects to 127.0.0.1:PORT, logs in, sends one action (e.g. Ping), counts
# events until `UserEvent: BenchEnd`, and prints `NAME events=N seconds=S events_per_s=R`.
if [[ -n ${EXTRA_CLIENTS:-} ]]; then
  while IFS= read -r line; do [[ -n $line ]] && CLIENTS+=("$line"); done <<<"$EXTRA_CLIENTS"
fi

# ---------------------------------------------------------------- setup check
need_setup=0
[[ -x .venv/bin/python ]] && .venv/bin/python -c 'import panoramisk' 2>/dev/null || need_setup=1
[[ -d node/node_modules/asterisk-manager && -d node/node_modules/asterisk-ami-client ]] || need_setup=1
[[ -x rs/target/release/raw_rs && -x rs/target/release/asterisk_rs_ami ]] || need_setup=1
# Always (re)build ours: cargo is a no-op when nothing changed, and a stale binary would lie.
(cd "$REPO" && cargo build --release --quiet -p ami-client --example stream_bench)
if (( need_setup )); then
  echo "setting up (venv, npm install, cargo build --release) ..." >&2
  [[ -x .venv/bin/python ]] || $PY -m venv .venv
  .venv/bin/pip install -q -r requirements.txt
  (cd node && npm install --no-audit --no-fund --silent)
  (cd rs && cargo build --release --quiet)
fi
command -v socat >/dev/null || { echo "socat not installed (apt-get install socat)" >&2; exit 1; }

TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$HERE/results/$TS
mkdir -p "$OUT"
RAW=$OUT/runs.tsv
printf 'key\tlabel\tn\trun\trc\tline\trss_kb\tcpu_s\n' > "$RAW"

SERVER_PID=
cleanup() { if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {  # n [extra server args...]
  local n=$1; shift
  PORT=$(free_port)
  $PY ami_stream_server.py "$PORT" "$n" "$@" 2>>"$OUT/server.stderr" &
  SERVER_PID=$!
  for _ in $(seq 200); do
    ss -Hltn "sport = :$PORT" | grep -q . && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died" >&2; exit 1; }
    sleep 0.05
  done
  echo "server did not start listening on $PORT" >&2; exit 1
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }

SELECTED=("$@")
selected() {
  (( ${#SELECTED[@]} == 0 )) && return 0
  local k; for k in "${SELECTED[@]}"; do [[ $k == "$1" ]] && return 0; done; return 1
}

echo "# $(date -u '+%Y-%m-%d %H:%M:%SZ')  $(nproc) cores, $(uname -r), N=$N_DEFAULT, runs=$RUNS  -> $OUT" >&2
for spec in "${CLIENTS[@]}"; do
  IFS='|' read -r key label cmd <<<"$spec"
  selected "$key" || continue
  nvar=N_$key; n=${!nvar:-$N_DEFAULT}
  if [[ $key == socat ]]; then
    start_server "$n" --start-on connect --close-after-end
  else
    start_server "$n"
  fi
  c=${cmd//PORT/$PORT}
  for r in $(seq "$RUNS"); do
    log=$OUT/$key.run$r
    rc=0
    t0=$EPOCHREALTIME
    timeout "$CLIENT_TIMEOUT" /usr/bin/time -v -o "$log.time" $c >"$log.out" 2>"$log.err" || rc=$?
    t1=$EPOCHREALTIME
    if [[ $key == socat ]]; then
      # socat prints nothing: time the whole drain (connect + 386 MB + close)
      dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
      line="socat events=$n seconds=$dt events_per_s=$(awk -v n="$n" -v d="$dt" 'BEGIN{printf "%.0f", n/d}')"
    else
      line=$(grep -E 'events=' "$log.out" | tail -1 || true)
      [[ -n $line ]] || line="NO RESULT: $(tail -c 300 "$log.out" "$log.err" | tr '\n\t' '  ')"
    fi
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$log.time" 2>/dev/null || echo "")
    cpu=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$log.time" 2>/dev/null || echo "")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$label" "$n" "$r" "$rc" "$line" "$rss" "$cpu" >> "$RAW"
    echo "  [$key run $r] rc=$rc $line rss_kb=$rss cpu_s=$cpu" >&2
  done
  stop_server
done

$PY - "$RAW" "$N_DEFAULT" "$RUNS" <<'EOF' | tee "$OUT/table.md"
import csv, statistics, sys, re, datetime, os
path, n_default, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(path), delimiter='\t'))
order, by = [], {}
for r in rows:
    if r['key'] not in by:
        order.append(r['key']); by[r['key']] = []
    by[r['key']].append(r)

def kv(line):
    return dict(re.findall(r'(\w+)=(\S+)', line))

print('Measured %s UTC, %d cores (%s), N=%d events/run unless noted, %d runs/client.'
      % (datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M'), os.cpu_count(),
         os.uname().release, n_default, runs))
print()
print('| client | N | median events/s | min..max events/s | median s | peak RSS MB | client CPU s (median) | events received / notes |')
print('|---|---:|---:|---:|---:|---:|---:|---|')
for k in order:
    rs = by[k]
    vals = [kv(r['line']) for r in rs]
    eps = [float(v['events_per_s']) for v in vals if 'events_per_s' in v]
    secs = [float(v['seconds']) for v in vals if 'seconds' in v]
    n = int(rs[0]['n'])
    rss = max(int(r['rss_kb']) for r in rs if r['rss_kb']) / 1024 if any(r['rss_kb'] for r in rs) else float('nan')
    cpu = statistics.median(float(r['cpu_s']) for r in rs if r['cpu_s'])
    notes = []
    got = [int(v['events']) for v in vals if 'events' in v]
    if got and all(g == n for g in got):
        notes.append('all %d' % n)
    elif got:
        notes.append('LOST events: received %s of %d' % ('/'.join(map(str, got)), n))
    for extra in ('lagged', 'malformed', 'bad'):
        xs = [v[extra] for v in vals if extra in v]
        if xs and any(x != '0' for x in xs):
            notes.append('%s=%s' % (extra, '/'.join(xs)))
    fails = [r for r in rs if r['rc'] != '0' or 'events_per_s' not in r['line']]
    for f in fails:
        notes.append('run %s rc=%s: %s' % (f['run'], f['rc'], f['line'][:120]))
    med = statistics.median(eps) if eps else float('nan')
    print('| %s | %s | %s | %s | %s | %.1f | %.2f | %s |' % (
        rs[0]['label'], '{:,}'.format(n), '{:,.0f}'.format(med),
        ('{:,.0f}..{:,.0f}'.format(min(eps), max(eps)) if eps else '-'),
        ('%.3f' % statistics.median(secs)) if secs else '-', rss, cpu, '; '.join(notes)))
EOF
