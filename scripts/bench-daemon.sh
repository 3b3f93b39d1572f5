#!/usr/bin/env bash
# Measures the daemon's footprint at default probe cadences: `astha status` latency, RSS and CPU.
#
#   scripts/bench-daemon.sh [SECONDS]     (default 60; builds the release binaries first)
#
# Two emulated Asterisks and two `astha run` daemons on loopback (release build, default probe
# settings), then: 30 `astha status` calls timed one by one, the daemons' peak RSS (VmHWM) and
# their CPU time over SECONDS of steady state. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_STEADY=${1:-60}
cargo build -q --release -p astha -p astha-tests --bin astha --bin fake-asterisk
ASTHA=$PWD/target/release/astha FAKE=$PWD/target/release/fake-asterisk
DIR=$(mktemp -d /tmp/astha-bench-XXXX)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((rc != 0)); then tail -n 20 "$DIR"/*.log >&2; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
uport() { python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A AMI SIP
for s in a b; do
  AMI[$s]=$(port); SIP[$s]=$(uport)
  "$FAKE" --ami 127.0.0.1:${AMI[$s]} --sip 127.0.0.1:${SIP[$s]} --no-http --system-name ha-$s >"$DIR/fake-$s.log" 2>&1 &
  PIDS+=($!)
done
echo hasecret > "$DIR/ami.secret"; head -c 32 /dev/urandom > "$DIR/peer.key"; chmod 600 "$DIR/peer.key"
LA=$(uport); LB=$(uport)
for s in a b; do
  if [[ $s == a ]]; then local_port=$LA remote_port=$LB; else local_port=$LB remote_port=$LA; fi
  cat > "$DIR/$s.toml" <<CONF
[node]
side = "$s"
[asterisk.a.ami]
address = "127.0.0.1:${AMI[a]}"
username = "hasidecar"
secret_file = "ami.secret"
[asterisk.a.sip]
address = "127.0.0.1:${SIP[a]}"
[asterisk.b.ami]
address = "127.0.0.1:${AMI[b]}"
username = "hasidecar"
secret_file = "ami.secret"
[asterisk.b.sip]
address = "127.0.0.1:${SIP[b]}"
[peer_link]
key_file = "peer.key"
[[peer_link.links]]
name = "lan"
local = "127.0.0.1:$local_port"
remote = "127.0.0.1:$remote_port"
[actuate.asterisk]
mode = "warm"
start_command = ["true"]
stop_command = ["true"]
status_command = ["true"]
[control]
socket = "$s.sock"
[state]
dir = "state-$s"
CONF
  "$ASTHA" run --config "$DIR/$s.toml" >"$DIR/astha-$s.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$s=$!"
done
for _ in $(seq 300); do
  "$ASTHA" status --json --socket "$DIR/a.sock" 2>/dev/null | grep -q '"role": "active"' && break
  sleep 0.1
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime in clock ticks
TCK=$(getconf CLK_TCK)
c0a=$(cpu "$PID_a"); c0b=$(cpu "$PID_b"); t0=$(date +%s.%N)
sleep "$SECONDS_STEADY"
c1a=$(cpu "$PID_a"); c1b=$(cpu "$PID_b"); t1=$(date +%s.%N)
lat=()
for _ in $(seq 30); do
  s=$(date +%s%N); "$ASTHA" status --socket "$DIR/a.sock" >/dev/null; e=$(date +%s%N)
  lat+=($(( (e - s) / 1000 )))
done
python3 - "$TCK" "$t0" "$t1" "$c0a" "$c1a" "$c0b" "$c1b" "$(grep VmHWM /proc/$PID_a/status | awk '{print $2}')" \
  "$(grep VmHWM /proc/$PID_b/status | awk '{print $2}')" "${lat[@]}" <<'PY'
import sys, statistics
tck, t0, t1, c0a, c1a, c0b, c1b, hwa, hwb = sys.argv[1:10]
lat = [int(x) / 1000 for x in sys.argv[10:]]
wall = float(t1) - float(t0)
cpu = lambda a, b: 100 * (float(b) - float(a)) / float(tck) / wall
print(f"| measurement | node a (active) | node b (standby) | target |")
print(f"|---|---:|---:|---|")
print(f"| CPU over {wall:.0f} s, % of one core | {cpu(c0a, c1a):.2f} | {cpu(c0b, c1b):.2f} | < 1 % |")
print(f"| peak RSS (VmHWM) | {int(hwa)/1024:.1f} MB | {int(hwb)/1024:.1f} MB | < 15 MB |")
print(f"| `astha status` wall time (30 calls, process start included) | median {statistics.median(lat):.1f} ms, max {max(lat):.1f} ms | | < 50 ms |")
PY
