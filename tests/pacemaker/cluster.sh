#!/bin/bash
# A real two-node Corosync + Pacemaker cluster in network + mount + pid + uts + ipc namespaces
# (each node is PID 1 of its own namespaces with private /run, /dev/shm and Corosync/Pacemaker
# state directories, so both run on one host), running the astha agents: group g_astha = astha-relay (the Numato
# relay simulator on a pty both nodes can open) → astha-asterisk (the fake Asterisk, started and
# stopped by the agent) → IPaddr2, preferring nodea.
#
# Scenarios, each measured from t0:
#   hang   A's fake Asterisk hangs (`fault hang`): Pacemaker's failed monitor (detection), the
#          group started on B, and the fake Asterisk's AMI banner seen by a client on the VIP.
#   back   the failure is cleaned up: the group moves back to A (a planned move).
#   callpath  A's call path breaks (`fault originate-fail`: AMI, Ping and SIP still fine): the
#          10 s monitor with OCF_CHECK_LEVEL=10 (a test call) fails and the group moves to B.
#   crash  A powers off (kill -9 of its namespace init + its switch port down): B's view of A
#          offline (detection), the group on B, the AMI banner on the VIP.
#   stock  (only with STOCK=1) the hang again with the stock ocf:heartbeat:asterisk cadence
#          (monitor interval 20 s, timeout 30 s) for comparison.
#
# Usage: tests/pacemaker/cluster.sh [hang|back|callpath|crash|stock ...]
#   (default: hang back callpath back crash)
#   RUNS=N repeats the scenarios; RESULTS=FILE appends one line per measurement;
#   TOKEN=ms sets corosync's token timeout (default 1000); BUDGET=s the agent's monitor_budget
#   (default 1.5; raise it on a machine so loaded that a healthy probe takes that long);
#   KEEP_WORK=1 keeps the files.
# Needs root and corosync, pacemaker, pacemaker-cli-utils, resource-agents. Exit 0 = passed or
# skipped. Everything it creates (namespaces, processes, files) is removed on exit, even on failure.
. "$(dirname "$0")/lib.sh"

require_root_and corosync pacemakerd cibadmin crm_attribute crm_resource crm_mon crm_failcount \
	nsenter unshare setsid ip socat timeout
[ -x /usr/lib/ocf/resource.d/heartbeat/IPaddr2 ] || skip "IPaddr2 missing (resource-agents)"

SCENARIOS=${*:-hang back callpath back crash}
RUNS=${RUNS:-1}
TOKEN=${TOKEN:-1000}
BUDGET=${BUDGET:-1.5}
P=ocf$$ # namespace prefix: unique per run (pid)
VIP=10.99.0.100
WORK=$(mktemp -d /tmp/astha-cluster.$$.XXXXXX)
chmod 755 "$WORK"
trap run_cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }

# ---- network: nodea, nodeb and a client on a bridge in a switch namespace ---------------------
for n in sw a b c; do
	ip netns add "$P-$n" || { fail "ip netns add $P-$n"; exit 1; }
	cleanup_cmd "ip netns del $P-$n"
	ip -n "$P-$n" link set lo up
done
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 up
for n in a b c; do
	ip -n "$P-sw" link add "p-$n" type veth peer name eth0 netns "$P-$n"
	ip -n "$P-sw" link set "p-$n" master br0 up
	ip -n "$P-$n" link set eth0 up
done
ip -n "$P-a" addr add 10.99.0.1/24 dev eth0
ip -n "$P-b" addr add 10.99.0.2/24 dev eth0
ip -n "$P-c" addr add 10.99.0.10/24 dev eth0

# ---- relay, agents, per-node state --------------------------------------------------------------
start_relay_sim "$WORK/relay"
# The OCF agents live in resource.d/astha; each node bind-mounts this copy over the real one.
cp -a /usr/lib/ocf/resource.d "$WORK/resource.d"
mkdir -p "$WORK/resource.d/astha"
install -m 0755 "$AGENTS/astha-asterisk" "$AGENTS/astha-relay" "$WORK/resource.d/astha/"

cat >"$WORK/corosync.conf" <<EOF
totem {
    version: 2
    cluster_name: astha$$
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: $TOKEN
}
nodelist {
    node {
        ring0_addr: 10.99.0.1
        name: nodea
        nodeid: 1
    }
    node {
        ring0_addr: 10.99.0.2
        name: nodeb
        nodeid: 2
    }
}
quorum {
    provider: corosync_votequorum
    two_node: 1
}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: hires
}
EOF

FA="$FAKE_ASTERISK --ami 0.0.0.0:5038 --sip 0.0.0.0:5060 --no-http --control /run/astha/fa.ctl --log-level warn"

# The pre-seeded CIB (no 20 s dc-deadtime wait, stonith off: this test bed has no fence device).
seed_cib() {
	export CIB_file=$WORK/seed.xml
	cibadmin --empty >"$CIB_file"
	crm_attribute --type crm_config --name stonith-enabled --update false
	crm_attribute --type crm_config --name dc-deadtime --update 2s
	crm_attribute --type crm_config --name cluster-recheck-interval --update 30s
	cibadmin --create -o resources --xml-text "
<group id=\"g_astha\">
  <primitive id=\"p_relay\" class=\"ocf\" provider=\"astha\" type=\"astha-relay\">
    <instance_attributes id=\"p_relay-ia\">
      <nvpair id=\"p_relay-astha\" name=\"astha\" value=\"$ASTHA\"/>
      <nvpair id=\"p_relay-config\" name=\"config\" value=\"/run/astha/astha.toml\"/>
    </instance_attributes>
    <operations>
      <op id=\"p_relay-monitor\" name=\"monitor\" interval=\"2s\" timeout=\"10s\"/>
      <op id=\"p_relay-start\" name=\"start\" interval=\"0\" timeout=\"20s\"/>
      <op id=\"p_relay-stop\" name=\"stop\" interval=\"0\" timeout=\"20s\"/>
    </operations>
  </primitive>
  <primitive id=\"p_asterisk\" class=\"ocf\" provider=\"astha\" type=\"astha-asterisk\">
    <instance_attributes id=\"p_asterisk-ia\">
      <nvpair id=\"p_asterisk-astha\" name=\"astha\" value=\"$ASTHA\"/>
      <nvpair id=\"p_asterisk-config\" name=\"config\" value=\"/run/astha/astha.toml\"/>
      <nvpair id=\"p_asterisk-start_command\" name=\"start_command\" value=\"$FA\"/>
      <nvpair id=\"p_asterisk-budget\" name=\"monitor_budget\" value=\"$BUDGET\"/>
    </instance_attributes>
    <meta_attributes id=\"p_asterisk-meta\">
      <nvpair id=\"p_asterisk-mt\" name=\"migration-threshold\" value=\"1\"/>
    </meta_attributes>
    <operations>
      <op id=\"p_asterisk-monitor\" name=\"monitor\" interval=\"1s\" timeout=\"5s\"/>
      <op id=\"p_asterisk-monitor-call\" name=\"monitor\" interval=\"10s\" timeout=\"20s\">
        <instance_attributes id=\"p_asterisk-monitor-call-ia\">
          <nvpair id=\"p_asterisk-monitor-call-level\" name=\"OCF_CHECK_LEVEL\" value=\"10\"/>
        </instance_attributes>
      </op>
      <op id=\"p_asterisk-start\" name=\"start\" interval=\"0\" timeout=\"60s\"/>
      <op id=\"p_asterisk-stop\" name=\"stop\" interval=\"0\" timeout=\"30s\"/>
    </operations>
  </primitive>
  <primitive id=\"p_vip\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\">
    <instance_attributes id=\"p_vip-ia\">
      <nvpair id=\"p_vip-ip\" name=\"ip\" value=\"$VIP\"/>
      <nvpair id=\"p_vip-mask\" name=\"cidr_netmask\" value=\"24\"/>
      <nvpair id=\"p_vip-nic\" name=\"nic\" value=\"eth0\"/>
    </instance_attributes>
    <operations>
      <op id=\"p_vip-monitor\" name=\"monitor\" interval=\"2s\" timeout=\"10s\"/>
    </operations>
  </primitive>
</group>"
	cibadmin --create -o constraints --xml-text \
		'<rsc_location id="l_prefer_a" rsc="g_astha" node="nodea" score="100"/>'
	unset CIB_file
}

prepare_node() {
	N=$1 side=$2 ip=$3
	R=$WORK/$N
	mkdir -p "$R/etc" "$R/var/lib" "$R/var/log"
	cp -a /etc/corosync "$R/etc/"
	cp -a /var/lib/corosync /var/lib/pacemaker "$R/var/lib/"
	cp -a /var/log/corosync /var/log/pacemaker "$R/var/log/"
	rm -f "$R"/var/log/pacemaker/*.log* "$R"/var/log/corosync/*.log* "$R"/var/lib/pacemaker/cib/cib*
	cp "$WORK/corosync.conf" "$R/etc/corosync/corosync.conf"
	install -o hacluster -g haclient -m 0600 "$WORK/seed.xml" "$R/var/lib/pacemaker/cib/cib.xml"
	PEER_IP=$([ "$side" = a ] && echo 10.99.0.2 || echo 10.99.0.1) \
		write_config "$side" 127.0.0.1 "$R/astha.toml" "$WORK/relay"
	cat >"$R/init.sh" <<EOF
#!/bin/bash
# PID 1 of node $N: private /run, /dev/shm, cluster state and OCF agents; then corosync, pacemakerd.
hostname $N
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/crm /run/resource-agents /run/pacemaker /run/astha
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
for d in /etc/corosync /var/lib/corosync /var/lib/pacemaker /var/log/corosync /var/log/pacemaker; do
	mount --bind $R\$d \$d
done
mount --bind $WORK/resource.d /usr/lib/ocf/resource.d
cp $R/astha.toml /run/astha/astha.toml
corosync -f >$R/corosync.stdout 2>&1 &
for i in \$(seq 100); do corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.2; done
PCMK_logfile=/var/log/pacemaker/pacemaker.log pacemakerd >$R/pacemakerd.stdout 2>&1 &
while :; do sleep 3600 & wait \$!; done
EOF
	chmod 755 "$R/init.sh"
}

start_node() {
	N=$1 ns=$2
	R=$WORK/$N
	setsid ip netns exec "$ns" unshare --mount --uts --ipc --pid --fork --mount-proc \
		--propagation private "$R/init.sh" >"$R/init.log" 2>&1 </dev/null &
	launcher=$!
	cleanup_pid "$launcher"
	wait_until 20 "$N namespace init" pgrep -P "$launcher" || return 1
	pgrep -P "$launcher" >"$R/init.hostpid"
	cleanup_pid "$(cat "$R/init.hostpid")"
	log "node $N: init host pid $(cat "$R/init.hostpid")"
}

on() {
	N=$1
	shift
	nsenter -t "$(cat "$WORK/$N/init.hostpid")" -a "$@"
}

# Where a resource runs, as seen from node $1 ("" when stopped).
where() { on "$1" crm_resource --locate -r "$2" 2>/dev/null | sed -n 's/.*running on: *//p' | head -1; }

group_on() {
	# Every member of g_astha started on $2, as seen from $1.
	for r in p_relay p_asterisk p_vip; do
		[ "$(where "$1" "$r")" = "$2" ] || return 1
	done
}

# A client on the bridge reads the AMI banner through the floating IP.
vip_answers() {
	timeout 0.5 ip netns exec "$P-c" bash -c \
		"exec 3<>/dev/tcp/$VIP/5038 && head -c 22 <&3" 2>/dev/null | grep -q 'Asterisk Call Manager'
}

monitor_failed_on_a() {
	# $1: the op key (p_asterisk_monitor_1000 or, for the test-call monitor, _10000).
	on nodeb crm_mon -1 --output-as=xml 2>/dev/null |
		grep '<failure ' | grep "op_key=\"${1:-p_asterisk_monitor}" | grep -q 'node="nodea"'
}

node_a_offline() {
	on nodeb crm_mon -1 --output-as=xml 2>/dev/null | grep '<node name="nodea"' | grep -q 'online="false"'
}

relay_side() { "$ASTHA" relay --config "$WORK/nodea/astha.toml" status --brief 2>/dev/null; }
# The relay agent's own monitor reads the same serial line, and a read that overlaps it gets
# no clean answer: poll for the expected side (a few seconds) instead of trusting one read.
relay_is() { [ "$(relay_side)" = "$1" ]; }
expect_relay() {
	# expect_relay SIDE WHAT
	wait_until 10 "$2: relay on side $1" relay_is "$1" || log "relay reads: $(relay_side)"
}

record() {
	# record SCENARIO RUN WHAT MS
	log "RESULT $1 run $2: $3 = $4 ms"
	[ -n "${RESULTS:-}" ] && echo "$1 $2 $3 $4" >>"$RESULTS"
	return 0
}

# Polls until COMMAND succeeds; sets MS to the milliseconds since T0 (fails the test after LIMIT s).
ms_until() {
	t0=$1 limit=$2 what=$3
	shift 3
	wait_until "$limit" "$what" "$@" || return 1
	MS=$(($(now_ms) - t0))
}

bring_up() {
	seed_cib
	prepare_node nodea a 10.99.0.1
	prepare_node nodeb b 10.99.0.2
	t0=$(now_ms)
	start_node nodea "$P-a" && start_node nodeb "$P-b" || {
		fail "nodes did not start"
		exit 1
	}
	ms_until "$t0" 120 "group g_astha started on nodea" group_on nodeb nodea || {
		on nodeb crm_mon -1 >&2
		exit 1
	}
	log "cluster up, g_astha started on nodea after $MS ms"
	wait_until 20 "VIP answers with the AMI banner" vip_answers || exit 1
	expect_relay a "after start"
}

scenario_hang() {
	run=$1
	t0=$(now_ms)
	on nodea sh -c 'echo "fault hang" | socat - UNIX-CONNECT:/run/astha/fa.ctl' >/dev/null ||
		fail "cannot hang nodea's fake Asterisk"
	ms_until "$t0" 60 "failed monitor of p_asterisk on nodea" monitor_failed_on_a &&
		record hang "$run" "detection (failed monitor recorded)" "$MS"
	ms_until "$t0" 120 "group g_astha started on nodeb" group_on nodeb nodeb &&
		record hang "$run" "group started on B" "$MS"
	ms_until "$t0" 30 "VIP answers from nodeb" vip_answers &&
		record hang "$run" "AMI banner on the VIP" "$MS"
	expect_relay b "after the move to B"
}

scenario_callpath() {
	run=$1
	t0=$(now_ms)
	on nodea sh -c 'echo "fault originate-fail" | socat - UNIX-CONNECT:/run/astha/fa.ctl' >/dev/null ||
		fail "cannot break nodea's call path"
	ms_until "$t0" 60 "failed test-call monitor of p_asterisk on nodea" \
		monitor_failed_on_a p_asterisk_monitor_10000 &&
		record callpath "$run" "detection (failed OCF_CHECK_LEVEL=10 monitor)" "$MS"
	ms_until "$t0" 120 "group g_astha started on nodeb" group_on nodeb nodeb &&
		record callpath "$run" "group started on B" "$MS"
	expect_relay b "after the move to B"
}

scenario_back() {
	run=$1
	t0=$(now_ms)
	on nodeb crm_resource --cleanup -r p_asterisk >/dev/null 2>&1
	ms_until "$t0" 120 "group g_astha back on nodea" group_on nodeb nodea &&
		record back "$run" "group started on A (cleanup → planned move)" "$MS"
	ms_until "$t0" 30 "VIP answers from nodea" vip_answers &&
		record back "$run" "AMI banner on the VIP" "$MS"
	expect_relay a "after the move back to A"
}

scenario_crash() {
	run=$1
	t0=$(now_ms)
	# Power-off: the node's processes die at once and its NIC goes dark (its VIP with it).
	kill -9 "$(cat "$WORK/nodea/init.hostpid")"
	ip -n "$P-sw" link set p-a down
	ms_until "$t0" 60 "nodeb sees nodea offline" node_a_offline &&
		record crash "$run" "detection (peer offline in the CIB)" "$MS"
	ms_until "$t0" 120 "group g_astha started on nodeb" group_on nodeb nodeb &&
		record crash "$run" "group started on B" "$MS"
	ms_until "$t0" 30 "VIP answers from nodeb" vip_answers &&
		record crash "$run" "AMI banner on the VIP" "$MS"
	expect_relay b "after the move to B"
}

# Restarts a crashed nodea so that the next run starts from the same state.
revive_a() {
	ip -n "$P-sw" link set p-a up
	ip -n "$P-a" addr flush dev eth0 scope global
	ip -n "$P-a" addr add 10.99.0.1/24 dev eth0
	start_node nodea "$P-a" || exit 1
	wait_until 120 "g_astha back on nodea" group_on nodeb nodea || exit 1
}

scenario_stock() {
	run=$1
	# The stock agent's cadence: a monitor every 20 s with a 30 s timeout.
	on nodeb cibadmin --modify --xml-text \
		'<op id="p_asterisk-monitor" name="monitor" interval="20s" timeout="30s"/>' >/dev/null
	wait_until 60 "g_astha on nodea after the op change" group_on nodeb nodea || return
	t0=$(now_ms)
	on nodea sh -c 'echo "fault hang" | socat - UNIX-CONNECT:/run/astha/fa.ctl' >/dev/null
	ms_until "$t0" 90 "failed monitor (stock cadence)" monitor_failed_on_a &&
		record stock "$run" "detection at 20 s interval (astha probe)" "$MS"
	ms_until "$t0" 120 "group on nodeb (stock cadence)" group_on nodeb nodeb &&
		record stock "$run" "group started on B" "$MS"
	on nodeb cibadmin --modify --xml-text \
		'<op id="p_asterisk-monitor" name="monitor" interval="1s" timeout="5s"/>' >/dev/null
	on nodeb crm_resource --cleanup -r p_asterisk >/dev/null 2>&1
	wait_until 120 "g_astha back on nodea" group_on nodeb nodea
}

bring_up
for run in $(seq "$RUNS"); do
	for s in $SCENARIOS; do
		log "---- run $run: $s"
		case $s in
		hang) scenario_hang "$run" ;;
		back) scenario_back "$run" ;;
		callpath) scenario_callpath "$run" ;;
		crash)
			scenario_crash "$run"
			[ "$run" -lt "$RUNS" ] && revive_a ;;
		stock) scenario_stock "$run" ;;
		*) fail "unknown scenario $s" ;;
		esac
		[ "$FAILURES" -gt 0 ] && break 2
	done
done

if [ "$FAILURES" -gt 0 ]; then
	log "cluster.sh: $FAILURES failure(s); node logs in $WORK (kept)"
	on nodeb crm_mon -1 -f >&2 2>/dev/null
	KEEP_WORK=1
	exit 1
fi
log "cluster.sh: passed"
