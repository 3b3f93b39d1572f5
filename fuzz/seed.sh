#!/usr/bin/env bash
# Seeds the decode corpus with the real Asterisk captures (server and client directions).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode
cp ../../shared/fixtures/ami/*.server.txt ../../shared/fixtures/ami/*.client.txt corpus/decode/
echo "seeded $(ls corpus/decode | wc -l) files into fuzz/corpus/decode"
