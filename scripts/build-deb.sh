#!/usr/bin/env bash
# Builds the Debian package target/debian/astha_*.deb (needs `cargo install cargo-deb`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || { echo "build-deb: install cargo-deb first: cargo install cargo-deb" >&2; exit 1; }
cargo build --release -p astha
mkdir -p target/assets
astha=target/release/astha
"$astha" man > target/assets/astha.1
"$astha" completions bash > target/assets/astha.bash
"$astha" completions zsh > target/assets/_astha
"$astha" completions fish > target/assets/astha.fish
cargo deb -p astha --no-build
ls -l target/debian/astha_*.deb
