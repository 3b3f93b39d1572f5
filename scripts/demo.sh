#!/usr/bin/env bash
# astha demo: builds astha, fake-asterisk, relay-sim and astha-demo, then runs the demo as root.
# Usage: sudo scripts/demo.sh [--fault crash|hang|deadlock|call-path|network] [--keep-running]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "astha demo needs root (network namespaces, veth, bridges): run  sudo $0 $*" >&2
  exit 2
fi
# Installs what is missing (iproute2, ping, arping, ...), like the test command does.
ASTHA_SETUP_DEMO=1 bash scripts/setup.sh
cargo build -q -p astha --bin astha
cargo build -q -p astha-tests --bin fake-asterisk --bin relay-sim --bin astha-demo
exec target/debug/astha demo -- "$@"
