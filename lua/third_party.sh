#!/usr/bin/env bash
# lua/third_party.sh -- fetch the third-party C sources of Redis's Lua libraries that come from
# packages, and patch them to behave as in Redis 7.0. Owned by the Lua libraries (see README.md,
# section "Third-party libraries"); called by lua/build.sh before it compiles the interpreter.
#
#   lua/third_party.sh [OUT_DIR]      (default: lua/build/third_party; gitignored)
#
# Result: OUT_DIR/{lua_cjson.c,strbuf.c,strbuf.h,fpconv.c,fpconv.h,LICENSE.lua-cjson}, Debian's
# lua-cjson 2.1.0+dfsg-2.2 (upstream 2.1.0 with Debian's patches, which touch only its tests)
# with patches/lua-cjson-2.1.0-redis.patch applied. Compile lua_cjson.c, strbuf.c, fpconv.c with
# -DENABLE_CJSON_GLOBAL (the library sets the global `cjson`, as in Redis) and call
# luaopen_cjson(L) after the standard libraries.
#
# The source package is fetched with `apt-get source` from the deb-src twin of the machine's own
# Debian sources (a temporary sources dir and lists dir; the system's apt state is not touched),
# pinned to an exact version and checked against a pinned SHA-256. Needs apt-get, and installs
# dpkg-dev (dpkg-source, patch) if missing. Idempotent: an up-to-date OUT_DIR is left alone.
#
# `bit` is not fetched: Debian's lua-bitop 1.0.2 source could not be obtained from the package
# mirror this project uses (its files answer 404), so lua/src/lua_bit.c is Ember's own
# implementation of LuaBitOp 1.0.2's documented API, like struct and cmsgpack.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build/third_party}"

CJSON_VERSION="2.1.0+dfsg-2.2"
CJSON_ORIG_SHA256="94f1fce36742cf00e99c5071b309b9f71e6e7daf60a7151f7bf4ac0a97259ac4"
CJSON_DEBIAN_SHA256="2b6fb37c00e0d1faf671b1e68f80478a7048fb49e356748a48e54996f12377cc"
PATCH="$here/patches/lua-cjson-2.1.0-redis.patch"

stamp="$out/.lua-cjson.stamp"
want="$CJSON_VERSION $(sha256sum "$PATCH" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# dpkg-source (and patch) come with dpkg-dev, which a fresh machine may lack.
if ! command -v dpkg-source >/dev/null 2>&1 || ! command -v patch >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null
fi

# A deb-src list made from the machine's own Debian sources (deb822 and one-line formats).
mkdir -p "$work/parts" "$work/lists/partial" "$work/dl"
n=0
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -q '^Types:.*\bdeb\b' "$f" || continue
    sed 's/^Types:.*/Types: deb-src/' "$f" >"$work/parts/src$n.sources"
    n=$((n+1))
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    grep -E '^deb ' "$f" | sed 's/^deb /deb-src /' >"$work/parts/src$n.list" || true
    n=$((n+1))
done
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
mkdir -p "$work/cache/archives/partial"
apt-get "${apt_opts[@]}" update -qq
(cd "$work/dl" && apt-get "${apt_opts[@]}" source -qq --download-only "lua-cjson=$CJSON_VERSION")

check() {
    local file="$1" sum="$2"
    echo "$sum  $file" | (cd "$work/dl" && sha256sum -c --quiet -) ||
        { echo "third_party.sh: $file does not have the pinned SHA-256" >&2; exit 1; }
}
check "lua-cjson_2.1.0+dfsg.orig.tar.gz" "$CJSON_ORIG_SHA256"
check "lua-cjson_${CJSON_VERSION}.debian.tar.xz" "$CJSON_DEBIAN_SHA256"
(cd "$work/dl" && dpkg-source --no-check -x "lua-cjson_${CJSON_VERSION}.dsc" src >/dev/null)

# Patched in a scratch copy, then moved into place: OUT_DIR is flat (build.sh compiles every
# OUT_DIR/*.c and puts OUT_DIR on the include path).
mkdir -p "$work/out" "$out"
for f in lua_cjson.c strbuf.c strbuf.h fpconv.c fpconv.h; do
    cp "$work/dl/src/$f" "$work/out/$f"
done
patch -s -p1 -d "$work/out" <"$PATCH"
cp "$work/out/"* "$out/"
cp "$work/dl/src/LICENSE" "$out/LICENSE.lua-cjson"
echo "$want" >"$stamp"
echo "third_party.sh: lua-cjson $CJSON_VERSION (patched for Redis) in $out"
