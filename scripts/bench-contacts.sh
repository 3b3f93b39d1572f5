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
cargo build -q -p astha --bin astha
cargo build -q -p astha-tests --bin fake-asterisk --bin relay-sim --bin contacts-bench
section=$(mktemp)
trap 'rm -f "$section"' EXIT
target/debug/contacts-bench --out "$section" "$@"
touch BENCHMARKS.md
python3 - "$section" <<'PY'
import re, sys
new = open(sys.argv[1]).read().rstrip() + "\n"
text = open("BENCHMARKS.md").read()
pattern = re.compile(r"^## Phones after a takeover\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda _: new + "\n", text, count=1)
else:
    text = (text.rstrip() + "\n\n" if text.strip() else "# Benchmarks\n\n") + new
open("BENCHMARKS.md", "w").write(text)
PY
echo "bench-contacts: BENCHMARKS.md updated (section \"Phones after a takeover\")"
