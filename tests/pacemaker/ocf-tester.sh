#!/bin/sh
# ocf-tester on both OCF agents (astha-asterisk against the fake Asterisk, which the agent's
# start/stop launch and end; astha-relay against the Numato relay simulator on a pty), then the
# failure paths ocf-tester does not cover: a hung Asterisk fails monitor within the budget and
# stop still ends it; a relay moved away fails the relay monitor.
#
# Runs in a private network namespace (fixed ports on 127.0.0.1 cannot clash). Needs root,
# ocf-tester (resource-agents) and xmllint (libxml2-utils). Exit 0 = passed or skipped.
. "$(dirname "$0")/lib.sh"

if [ -z "${ASTHA_IN_NETNS:-}" ]; then
	require_root_and ocf-tester xmllint unshare socat timeout setsid
	ASTHA_IN_NETNS=1 exec unshare --net -- sh "$0" "$@"
fi
ip link set lo up

WORK=$(mktemp -d /tmp/astha-ocf-tester.$$.XXXXXX)
chmod 755 "$WORK"
trap run_cleanup EXIT
trap 'exit 1' INT TERM

# ocf-tester checks that user nobody can run meta-data: use world-readable copies.
for a in astha-asterisk astha-relay; do
	install -m 0755 "$AGENTS/$a" "$WORK/$a"
done
start_relay_sim "$WORK/relay"
write_config a 127.0.0.1 "$WORK/astha.toml" "$WORK/relay"

FA_CTL=$WORK/fake-asterisk.ctl
START="$FAKE_ASTERISK --ami 127.0.0.1:5038 --sip 127.0.0.1:5060 --no-http --boot-delay-ms 300 --control $FA_CTL --log-level warn"
PIDFILE=$WORK/asterisk.pid
cleanup_cmd "kill -9 \$(cat $PIDFILE)"

log "ocf-tester astha-asterisk"
if ! ocf-tester -n astha_test \
	-o astha="$ASTHA" -o config="$WORK/astha.toml" -o start_command="$START" \
	-o pidfile="$PIDFILE" -o log_file="$WORK/asterisk.log" \
	"$WORK/astha-asterisk"; then
	fail "ocf-tester astha-asterisk"
fi

log "ocf-tester astha-relay"
if ! ocf-tester -n relay_test \
	-o astha="$ASTHA" -o config="$WORK/astha.toml" -o state="$WORK/relay.state" \
	"$WORK/astha-relay"; then
	fail "ocf-tester astha-relay"
fi

# --- What ocf-tester does not check ---------------------------------------------------------
export OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=astha_fault
export OCF_RESKEY_astha="$ASTHA" OCF_RESKEY_config="$WORK/astha.toml"
export OCF_RESKEY_start_command="$START" OCF_RESKEY_pidfile="$PIDFILE"
export OCF_RESKEY_log_file="$WORK/asterisk.log" OCF_RESKEY_CRM_meta_timeout=20000
AST=$WORK/astha-asterisk

check "start (waits for FullyBooted and a test call)" 0 "$AST" start
check "monitor healthy" 0 "$AST" monitor
check "monitor with the test call (OCF_CHECK_LEVEL=10)" 0 env OCF_CHECK_LEVEL=10 "$AST" monitor
echo "fault hang" | socat - "UNIX-CONNECT:$FA_CTL" >/dev/null
t0=$(date +%s%N)
check "monitor of a hung Asterisk fails (OCF_ERR_GENERIC)" 1 "$AST" monitor
took=$((($(date +%s%N) - t0) / 1000000))
log "hung Asterisk judged in $took ms (monitor_budget 1.5 s)"
[ "$took" -lt 5000 ] || fail "monitor of a hung Asterisk took $took ms"
check "stop ends the hung Asterisk" 0 "$AST" stop
check "monitor after stop" 7 "$AST" monitor
check "validate-all with a broken config" 6 env OCF_RESKEY_config=/nonexistent "$AST" validate-all

export OCF_RESOURCE_INSTANCE=relay_fault OCF_RESKEY_state="$WORK/relay.state"
REL=$WORK/astha-relay
check "relay start selects this node's side" 0 "$REL" start
check "relay reads back side a" 0 sh -c "[ \"\$('$ASTHA' relay --config '$WORK/astha.toml' status --brief)\" = a ]"
"$ASTHA" relay --config "$WORK/astha.toml" select b >/dev/null
check "relay monitor fails once the circuits moved away" 1 "$REL" monitor
check "relay stop" 0 "$REL" stop
check "relay monitor after stop" 7 "$REL" monitor
check "relay stop with release_to_peer hands the circuits over" 0 sh -c "
	'$REL' start && OCF_RESKEY_release_to_peer=true '$REL' stop &&
	[ \"\$('$ASTHA' relay --config '$WORK/astha.toml' status --brief)\" = b ]"

if [ "$FAILURES" -gt 0 ]; then
	log "ocf-tester.sh: $FAILURES failure(s)"
	exit 1
fi
log "ocf-tester.sh: passed"
