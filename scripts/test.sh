#!/usr/bin/env bash
# The test command: sets up what the tests need, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo nextest run --workspace --profile ci "$@"
