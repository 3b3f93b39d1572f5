#!/usr/bin/env bash
# The test command: sets up what the tests need, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The real Asterisk the tests run against (scripts/asterisk.sh finds or builds it; setup.sh
# already did the work, so this only prints the path). Without one those tests skip, except
# in CI, where a missing Asterisk is a failure.
if asterisk_bin=$(bash scripts/asterisk.sh 2>/dev/null); then
  export ASTHA_ASTERISK_BIN=$asterisk_bin
fi
if [[ -n ${CI:-} ]]; then
  export ASTHA_REQUIRE_ASTERISK=1
fi
cargo nextest run --workspace --profile ci "$@"
