#!/bin/sh
# fence_astha_relay against the Numato relay simulator on a pty: fence-agents conventions
# (command-line options and key=value lines on stdin; on/off/reboot/status/list/list-status/
# monitor/metadata/validate-all; exit 0 success, 1 failure, status 0 = ON / 2 = OFF), checked
# against the relay position read back independently with `astha relay status`.
# Needs xmllint (libxml2-utils) for the metadata check; no root needed. Exit 0 = passed/skipped.
. "$(dirname "$0")/lib.sh"

command -v xmllint >/dev/null 2>&1 || skip "xmllint not installed (libxml2-utils)"
for bin in "$ASTHA" "$RELAY_SIM"; do
	[ -x "$bin" ] || skip "$bin not built (cargo build -p astha -p astha-tests --bins)"
done

WORK=$(mktemp -d /tmp/astha-fence.$$.XXXXXX)
trap run_cleanup EXIT
trap 'exit 1' INT TERM
start_relay_sim "$WORK/relay"
write_config a 127.0.0.1 "$WORK/astha.toml" "$WORK/relay"
FENCE=$AGENTS/fence_astha_relay
CFG=$WORK/astha.toml
export PATH="$(dirname "$ASTHA"):$PATH"

position() { "$ASTHA" relay --config "$CFG" status --brief; }
stdin_call() { printf '%s\n' "$@" | "$FENCE"; }
is_position() { [ "$(position)" = "$1" ]; }

check "metadata is well-formed XML" 0 sh -c "'$FENCE' -o metadata | xmllint --noout -"
check "metadata lists the actions" 0 sh -c "'$FENCE' -o metadata | grep -q '<action name=\"list-status\"'"
check "validate-all" 0 "$FENCE" -o validate-all -c "$CFG"
check "monitor: device answers" 0 "$FENCE" -o monitor -c "$CFG"
check "list: node,side per line" 0 sh -c "[ \"\$('$FENCE' -o list -c '$CFG' | tr '\n' ' ')\" = 'nodea,a nodeb,b ' ]"

check "on nodea (command line)" 0 "$FENCE" -o on -n nodea -c "$CFG"
check "read back: circuits on a" 0 is_position a
check "status nodea = ON" 0 "$FENCE" -o status -n nodea -c "$CFG"
check "status nodeb = OFF (exit 2)" 2 "$FENCE" --action=status --plug=nodeb --config="$CFG"
check "list-status" 0 sh -c "[ \"\$('$FENCE' -o list-status -c '$CFG' | tr '\n' ' ')\" = 'nodea,a,on nodeb,b,off ' ]"

check "off nodea (stdin, as Pacemaker calls it)" 0 stdin_call "action=off" "plug=nodea" "config=$CFG"
check "read back: circuits moved to b" 0 is_position b
check "status nodea via stdin = OFF" 2 stdin_call "action=status" "port=nodea" "config=$CFG"
check "off again is idempotent" 0 stdin_call "action=off" "plug=nodea" "config=$CFG"
check "reboot nodeb = off: circuits to a, not handed back" 0 stdin_call "action=reboot" "nodename=nodeb" "config=$CFG" "# comment" "pcmk_host_list=nodea nodeb"
check "read back: circuits on a" 0 is_position a
check "plug given as side letter" 0 "$FENCE" -o off -n a -c "$CFG"
check "read back: circuits on b" 0 is_position b

check "unknown plug fails" 1 "$FENCE" -o off -n nodex -c "$CFG"
check "missing plug fails" 1 "$FENCE" -o off -c "$CFG"
check "unknown action fails" 1 "$FENCE" -o explode -n nodea -c "$CFG"
check "read back: failures moved nothing" 0 is_position b

# A dead device: every action that needs it fails with 1, status included. Unplugged, as a USB
# serial adapter is, its device node goes too: the simulator's link left behind would point at a
# pty number the next pty of a test running beside this one may get (then that test's simulator
# answered, once, and "off" succeeded).
kill -9 $CLEANUP_PIDS 2>/dev/null
rm -f "$WORK/relay"
wait_until 10 "relay simulator gone" sh -c "! '$ASTHA' relay --config '$CFG' --timeout-ms 300 status"
check "monitor with the device gone" 1 "$FENCE" -o monitor -c "$CFG" --device-timeout-ms=300
check "status with the device gone" 1 "$FENCE" -o status -n nodea -c "$CFG" --device-timeout-ms=300
check "off with the device gone" 1 "$FENCE" -o off -n nodea -c "$CFG" --device-timeout-ms=300

if [ "$FAILURES" -gt 0 ]; then
	log "fence.sh: $FAILURES failure(s)"
	exit 1
fi
log "fence.sh: passed"
