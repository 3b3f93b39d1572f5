#!/usr/bin/env bash
# Seeds the decode corpus with the real Asterisk captures (server and client directions).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode
cp ../tests/fixtures/asterisk-22/ami/*.server.txt ../tests/fixtures/asterisk-22/ami/*.client.txt corpus/decode/
echo "seeded $(ls corpus/decode | wc -l) files into fuzz/corpus/decode"
