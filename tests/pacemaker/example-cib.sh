#!/bin/sh
# Loads contrib/ocf/example-cib.crm with crmsh into an empty offline CIB (CIB_file) and checks it
# with crm_verify, with the astha agents visible where Pacemaker looks for them: a private mount
# namespace bind-mounts a copy of resource.d with ocf:astha:* and overlays /usr/sbin with
# fence_astha_relay, so the host stays untouched. crmsh checks every parameter against the
# agents' meta-data. Needs root, crmsh and the ocf:linbit:drbd agent (drbd-utils); skips without.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (private mount namespace)"
for tool in crm crm_verify cibadmin unshare; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed (crmsh, pacemaker-cli-utils)"
done
[ -x /usr/lib/ocf/resource.d/linbit/drbd ] || skip "ocf:linbit:drbd not installed (drbd-utils)"

WORK=$(mktemp -d /tmp/astha-example-cib.$$.XXXXXX)
trap run_cleanup EXIT
trap 'exit 1' INT TERM
cp -a /usr/lib/ocf/resource.d "$WORK/resource.d"
mkdir -p "$WORK/resource.d/astha" "$WORK/sbin" "$WORK/overlay-work"
install -m 0755 "$AGENTS/astha-asterisk" "$AGENTS/astha-relay" "$WORK/resource.d/astha/"
install -m 0755 "$AGENTS/fence_astha_relay" "$WORK/sbin/"
cibadmin --empty >"$WORK/cib.xml"

unshare --mount --propagation private sh -c "
	set -e
	mount --bind '$WORK/resource.d' /usr/lib/ocf/resource.d
	mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir='$WORK/sbin',workdir='$WORK/overlay-work' /usr/sbin
	export CIB_file='$WORK/cib.xml'
	crm configure load update '$AGENTS/example-cib.crm'
	crm_verify -x '$WORK/cib.xml'
" >"$WORK/out" 2>&1
rc=$?
# crmsh reports unknown parameters and agents as ERROR but may still exit 0.
if [ $rc -ne 0 ] || grep -q 'ERROR' "$WORK/out"; then
	cat "$WORK/out" >&2
	fail "example-cib.crm does not load or verify (rc $rc)"
	exit 1
fi
for id in fence_pstn_relay p_relay p_asterisk p_vip p_fs_asterisk ms_drbd_asterisk g_asterisk; do
	grep -q "id=\"$id\"" "$WORK/cib.xml" || fail "$id missing from the loaded CIB"
done
[ "$FAILURES" -eq 0 ] || exit 1
log "example-cib.sh: passed"
