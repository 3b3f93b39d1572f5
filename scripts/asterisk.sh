#!/usr/bin/env bash
# Provides a real Asterisk 22 for astha's tests (a test dependency only: the product neither
# ships nor requires a particular Asterisk build). Prints the path of the `asterisk` binary.
#
# Which Asterisk, first match wins:
#   1. ASTHA_ASTERISK_BIN=/path/to/asterisk   an installed Asterisk, used as it is
#   2. `asterisk` on PATH                      likewise
#   3. a build of ours in the cache            ${ASTHA_CACHE:-~/.cache/astha}/asterisk-<version>-<sha>/
#      (the one of the tarball below; without a tarball, the newest complete build there)
#   4. a new build from the source tarball:    ASTHA_ASTERISK_TARBALL=/path/asterisk-22.x.tar.gz, or
#      asterisk-*.tar.gz in ASTHA_ASTERISK_SRC_DIR, or in ../shared/asterisk/ beside the checkout.
#      The bundled pjproject tarball must sit beside it (no network is used); both are checked
#      against SHA256SUMS there when that file exists. Needs root for the Debian build
#      dependencies when they are missing. About 5 minutes on 2 cores; a second run costs nothing.
#
# With --check it only reports (exit 1 when no Asterisk can be had, with the reason).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "asterisk.sh: $*" >&2; }

if [[ -n ${ASTHA_ASTERISK_BIN:-} ]]; then
  [[ -x $ASTHA_ASTERISK_BIN ]] || { say "ASTHA_ASTERISK_BIN=$ASTHA_ASTERISK_BIN is not executable"; exit 1; }
  echo "$ASTHA_ASTERISK_BIN"; exit 0
fi
if command -v asterisk >/dev/null 2>&1; then
  command -v asterisk; exit 0
fi

# The source tarball.
tarball=${ASTHA_ASTERISK_TARBALL:-}
if [[ -z $tarball ]]; then
  # ../shared/asterisk beside the checkout; for a git worktree also beside the main checkout.
  main_checkout=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  for dir in ${ASTHA_ASTERISK_SRC_DIR:-} ../shared/asterisk ${main_checkout:+$main_checkout/../../shared/asterisk}; do
    [[ -n $dir && -d $dir ]] || continue
    tarball=$(ls "$dir"/asterisk-*.tar.gz 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n $tarball ]] && break
  done
fi
# The sounds the shipped dialplan plays (dialplan/extensions_astha.conf), as 8 kHz signed-linear
# silence: the build downloads no sound packages. A real install has them from its core sounds.
write_sounds() {
  local dir=$1/var/lib/asterisk/sounds/en
  mkdir -p "$dir/silence"
  [[ -f $dir/silence/1.sln ]] || head -c 16000 /dev/zero >"$dir/silence/1.sln" # 1 s
  local prompt
  mkdir -p "$dir/digits"
  for prompt in beep agent-pass auth-thankyou auth-incorrect vm-goodbye vm-sorry if-correct-press \
    digits/{0..20} digits/{3..9}0 digits/hundred digits/thousand; do
    [[ -f $dir/$prompt.sln ]] || head -c 1600 /dev/zero >"$dir/$prompt.sln" # 0.1 s
  done
}

cache=${ASTHA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/astha}
if [[ -z $tarball || ! -f $tarball ]]; then
  # No source here (e.g. a fresh clone elsewhere): a build already in the cache will do.
  newest=$(ls -t "$cache"/asterisk-*/.complete 2>/dev/null | head -n 1 || true)
  if [[ -n $newest && -x $(dirname "$newest")/sbin/asterisk ]]; then
    write_sounds "$(dirname "$newest")"
    echo "$(dirname "$newest")/sbin/asterisk"; exit 0
  fi
  say "no Asterisk: set ASTHA_ASTERISK_BIN to an installed asterisk, put one on PATH, or name a source"
  say "tarball with ASTHA_ASTERISK_TARBALL (pjproject-*.tar.bz2 beside it) or ASTHA_ASTERISK_SRC_DIR"
  exit 1
fi
tarball=$(realpath "$tarball")
srcdir=$(dirname "$tarball")
pjproject=$(ls "$srcdir"/pjproject-*.tar.bz2 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n $pjproject ]] || { say "no pjproject-*.tar.bz2 beside $tarball (Asterisk's bundled PJSIP is built from it)"; exit 1; }

sha=$(sha256sum "$tarball" | cut -c1-64)
if [[ -f $srcdir/SHA256SUMS ]]; then
  (cd "$srcdir" && sha256sum --quiet -c SHA256SUMS) || { say "checksum mismatch in $srcdir (SHA256SUMS)"; exit 1; }
fi
version=$(basename "$tarball" .tar.gz)
prefix=$cache/$version-${sha:0:12}

if [[ -x $prefix/sbin/asterisk && -f $prefix/.complete ]]; then
  write_sounds "$prefix"
  echo "$prefix/sbin/asterisk"; exit 0
fi
[[ ${1:-} == --check ]] && { say "not built yet: $tarball would be built into $prefix"; exit 0; }

deps=(build-essential pkg-config libedit-dev libjansson-dev libxml2-dev uuid-dev libsqlite3-dev libssl-dev
  libsrtp2-dev libcurl4-openssl-dev libncurses-dev xmlstarlet bzip2 patch)
missing=()
for p in "${deps[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || { say "missing build dependencies: ${missing[*]} (run as root or apt-get install them)"; exit 1; }
  say "installing build dependencies: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

say "building $version into $prefix (about 5 minutes on 2 cores; log: $cache/$version-build.log)"
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$cache/$version-build.log
{
  tar -xzf "$tarball" -C "$work"
  mkdir -p "$work/downloads"
  cp "$pjproject" "$work/downloads/"
  cd "$work"/asterisk-*/
  ./configure --prefix="$prefix" --with-pjproject-bundled --with-download-cache="$work/downloads" \
    --without-x11 --without-gtk2
  make menuselect.makeopts
  # No downloads (sounds), portable binaries.
  menuselect/menuselect --disable CORE-SOUNDS-EN-GSM --disable MOH-OPSOUND-WAV --disable BUILD_NATIVE \
    menuselect.makeopts
  make -j"$(nproc)"
  rm -rf "$prefix"
  make install
  write_sounds "$prefix"
  touch "$prefix/.complete"
} >"$log" 2>&1 || { say "build failed; the last lines of $log:"; tail -n 30 "$log" >&2; exit 1; }
say "built in $SECONDS s"
echo "$prefix/sbin/asterisk"
