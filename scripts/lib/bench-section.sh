# Sourced by the scripts/bench-*.sh that write one section of BENCHMARKS.md.
#
# run_bench_section NAME BIN "SECTION" ARGS...: builds astha and the harness's helpers (the dev
# profile: these timings are dominated by probe intervals and timeouts, not CPU), runs
# target/debug/BIN --out FILE ARGS..., and puts FILE in BENCHMARKS.md in place of the section
# headed "## SECTION" (appended when there is none).
run_bench_section() {
  local name=$1 bin=$2 title=$3
  shift 3
  cargo build -q -p astha --bin astha
  cargo build -q -p astha-tests --bin fake-asterisk --bin relay-sim --bin "$bin"
  local section
  section=$(mktemp)
  # shellcheck disable=SC2064 # the file name is fixed now, on purpose
  trap "rm -f '$section'" EXIT
  "target/debug/$bin" --out "$section" "$@"
  touch BENCHMARKS.md
  python3 - "$section" "$title" <<'PY'
import re, sys
new = open(sys.argv[1]).read().rstrip() + "\n"
text = open("BENCHMARKS.md").read()
pattern = re.compile(r"^## " + re.escape(sys.argv[2]) + r"\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda _: new + "\n", text, count=1)
else:
    text = (text.rstrip() + "\n\n" if text.strip() else "# Benchmarks\n\n") + new
open("BENCHMARKS.md", "w").write(text)
PY
  echo "$name: BENCHMARKS.md updated (section \"$title\")"
}
