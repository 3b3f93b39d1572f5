#!/usr/bin/env bash
# Installs what astha's tests and demo need on a Debian machine (idempotent).
# Runs apt only when something is missing, and only as root; otherwise it says what to install.
set -euo pipefail

APT_PACKAGES=(pkg-config libssl-dev socat iproute2 iputils-ping iputils-arping sip-tester sipsak procps util-linux coreutils
  corosync pacemaker pacemaker-cli-utils resource-agents libxml2-utils
  drbd-utils e2fsprogs systemd stress-ng nftables)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  else
    echo "setup: installing ${missing[*]}" >&2
    # Another apt may hold the dpkg lock on a shared machine: wait for it rather than fail.
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
# promtool checks and unit-tests contrib/prometheus/astha-rules.yml (not needed by the demo).
# Debian ships it only inside the `prometheus` package: 19 MB to download, 96 MB installed, and
# installing it starts a Prometheus server wherever systemd runs. So only promtool (a static
# binary) is taken out of the package.
install_promtool() {
  local tmp
  tmp=$(mktemp -d)
  if (cd "$tmp" && { apt-get -o DPkg::Lock::Timeout=300 download -qq prometheus 2>/dev/null \
        || { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get download -qq prometheus 2>/dev/null; }; }) \
      && dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"; then
    install -m 0755 "$tmp/root/usr/bin/promtool" /usr/local/bin/promtool
    echo "setup: installed promtool from Debian's prometheus package" >&2
  else
    echo "setup: could not fetch Debian's prometheus package for promtool; the rule tests will fail" >&2
  fi
  rm -rf "$tmp"
}
if [[ -z ${ASTHA_SETUP_DEMO:-} ]] && ! command -v promtool >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: promtool missing (run as root, or copy usr/bin/promtool out of Debian's prometheus package onto PATH)" >&2
  else
    install_promtool
  fi
fi
# A real Asterisk 22 for the tests that run against one (not needed by the demo): an installed
# one (ASTHA_ASTERISK_BIN or PATH) as it is, else a cached build, else a build from the source
# tarball beside the checkout (about 5-6 minutes on 2 cores, once). See scripts/asterisk.sh.
if [[ -z ${ASTHA_SETUP_DEMO:-} ]]; then
  asterisk_bin=$(bash "$(dirname "$0")/asterisk.sh") \
    && echo "setup: Asterisk for the tests: $asterisk_bin" >&2 \
    || echo "setup: no Asterisk for the tests (see above); the tests that need one will skip" >&2
fi
# The test runner (not needed by the demo, which sets ASTHA_SETUP_DEMO=1).
[[ -n ${ASTHA_SETUP_DEMO:-} ]] || command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
# asterisklint checks the dialplan snippets in dialplan/ (a test runs it when present).
[[ -n ${ASTHA_SETUP_DEMO:-} ]] || command -v asterisklint >/dev/null || python3 -m pip install -q --disable-pip-version-check asterisklint \
  || echo "setup: could not install asterisklint (pip); the dialplan lint test will skip" >&2
