# Shared helpers of the Pacemaker agent tests (sourced, not run).
#
# Binaries: $ASTHA, $FAKE_ASTERISK, $RELAY_SIM, or target/debug of this repository.
# Every test creates its files under one fresh directory ($WORK) and registers what it starts
# with `cleanup_pid`, so the EXIT trap removes everything even when an assertion fails.

REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}/debug
: "${ASTHA:=$TARGET_DIR/astha}"
: "${FAKE_ASTERISK:=$TARGET_DIR/fake-asterisk}"
: "${RELAY_SIM:=$TARGET_DIR/relay-sim}"
AGENTS=$REPO/contrib/ocf

CLEANUP_PIDS=""
CLEANUP_CMDS=""
FAILURES=0

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }

skip() {
	echo "SKIP: $*"
	exit 0
}

fail() {
	log "FAIL: $*"
	FAILURES=$((FAILURES + 1))
}

check() {
	# check "what" expected_rc command...: runs the command, compares its exit status.
	what=$1
	want=$2
	shift 2
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" = "$want" ]; then
		log "ok: $what (rc $got)"
	else
		fail "$what: expected rc $want, got $got: $out"
	fi
}

cleanup_pid() { CLEANUP_PIDS="$1 $CLEANUP_PIDS"; }
cleanup_cmd() { CLEANUP_CMDS="$1
$CLEANUP_CMDS"; }

run_cleanup() {
	for p in $CLEANUP_PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	printf '%s\n' "$CLEANUP_CMDS" | while IFS= read -r c; do
		[ -n "$c" ] && sh -c "$c" >/dev/null 2>&1
	done
	[ -n "${WORK:-}" ] && [ -z "${KEEP_WORK:-}" ] && rm -rf "$WORK"
}

require_root_and() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, ocf-tester's permission check)"
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed (bash scripts/setup.sh installs it)"
	done
	for bin in "$ASTHA" "$FAKE_ASTERISK" "$RELAY_SIM"; do
		[ -x "$bin" ] || skip "$bin not built (cargo build -p astha -p astha-tests --bins)"
	done
}

# wait_until TIMEOUT_S DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_until() {
	limit=$1
	what=$2
	shift 2
	start=$(date +%s%N)
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if [ $(( ($(date +%s%N) - start) / 1000000000 )) -ge "$limit" ]; then
			fail "timed out after ${limit}s waiting for: $what"
			return 1
		fi
		sleep 0.1
	done
}

# A relay simulator on a pty, linked at $1; prints nothing, registers cleanup.
start_relay_sim() {
	"$RELAY_SIM" numato --link "$1" >"$WORK/relay-sim.out" 2>&1 &
	cleanup_pid $!
	wait_until 10 "relay simulator pty at $1" test -e "$1"
}

# An astha configuration for node side $1 with its AMI on $2 (host:port base, e.g. 127.0.0.1),
# written to $3; the relay device at $4.
write_config() {
	side=$1 ip=$2 file=$3 relay=$4
	echo hasecret >"$WORK/ami.secret"
	chmod 644 "$WORK/ami.secret"
	if [ "$side" = a ]; then other=b; else other=a; fi
	cat >"$file" <<CFG
[node]
side = "$side"
name = "node$side"
peer_name = "node$other"

[asterisk.$side.ami]
address = "$ip:5038"
username = "hasidecar"
secret_file = "$WORK/ami.secret"

[asterisk.$side.sip]
address = "$ip:5060"

[asterisk.$other.ami]
address = "${PEER_IP:-127.0.0.2}:5038"
username = "hasidecar"
secret_file = "$WORK/ami.secret"

# Short timeouts: a hung Asterisk must fail a 1 s monitor quickly.
[probes.ping]
timeout_ms = 500
[probes.core]
timeout_ms = 500
[probes.sip]
timeout_ms = 500

[actuate.relay]
driver = "numato"
path = "$relay"
timeout_ms = 1000
CFG
}
