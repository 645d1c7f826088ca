#!/bin/bash
# Rebuilds host/src/lua/lua.wasm, the Lua engine guest, byte for byte from
# packaged sources (see lua/README.md):
#   - Lua 5.1.5 from the lua-src crate 551.1.0 (crates.io, sha256 pinned below),
#     with lua/patches/lua-5.1.5-ember.patch (read-only tables, no bytecode);
#   - the C glue in lua/src (Ember's own);
#   - cjson, bit, struct, cmsgpack when present: lua/third_party.sh (cjson
#     from its Debian source package) and lua/src/lua_struct.c,
#     lua/src/lua_cmsgpack.c, lua/src/lua_bit.c;
#   - Debian 12's clang-22, lld-22, libclang-rt-22-dev-wasm32 and wasi-libc:
#     apt-get install -y clang-22 lld-22 libclang-rt-22-dev-wasm32 wasi-libc
# Usage: lua/build.sh [output.wasm]   (default: host/src/lua/lua.wasm)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=${1:-$ROOT/host/src/lua/lua.wasm}
CC=${CC:-clang-22}
LUA_SRC_VERSION=551.1.0
LUA_SRC_SHA256=41d22b201501a536c0f5a96c7589b268b559172b20fb029064434e38ddcecb1f

BUILD=$(mktemp -d /tmp/ember-lua-build.XXXXXX)
trap "[ -n \"${KEEP_BUILD:-}\" ] || rm -rf \"$BUILD\"" EXIT

# 1. Lua 5.1.5 from the lua-src crate, fetched by cargo into its cache.
crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/lua-src-$LUA_SRC_VERSION.crate 2>/dev/null | head -1 || true)
if [ -z "$crate" ]; then
  mkdir -p "$BUILD/fetch/src"
  printf '[package]\nname = "fetch-lua-src"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nlua-src = "=%s"\n[workspace]\n' \
    "$LUA_SRC_VERSION" > "$BUILD/fetch/Cargo.toml"
  : > "$BUILD/fetch/src/lib.rs"
  (cd "$BUILD/fetch" && cargo fetch -q)
  crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/lua-src-$LUA_SRC_VERSION.crate | head -1)
fi
echo "$LUA_SRC_SHA256  $crate" | sha256sum -c --quiet
mkdir -p "$BUILD/crate" "$BUILD/lua" "$BUILD/obj" "$BUILD/third_party"
tar -xzf "$crate" -C "$BUILD/crate"
cp "$BUILD/crate/lua-src-$LUA_SRC_VERSION/lua-5.1.5/"*.[ch] "$BUILD/lua/"
(cd "$BUILD/lua" && patch -s -p1 < "$HERE/patches/lua-5.1.5-ember.patch")

# 2. The optional libraries (the hook for cjson/bit/struct/cmsgpack).
DEFS=()
EXTRA=()
if [ -x "$HERE/third_party.sh" ]; then
  "$HERE/third_party.sh" "$BUILD/third_party"
fi
for f in "$BUILD"/third_party/*.c "$HERE"/src/lua_struct.c "$HERE"/src/lua_cmsgpack.c "$HERE"/src/lua_bit.c; do
  [ -f "$f" ] || continue
  EXTRA+=("$f")
  case $(basename "$f") in
    lua_cjson.c) DEFS+=(-DEMBER_HAVE_CJSON) ;;
    bit.c|lua_bit.c) DEFS+=(-DEMBER_HAVE_BIT) ;;
    lua_struct.c) DEFS+=(-DEMBER_HAVE_STRUCT) ;;
    lua_cmsgpack.c) DEFS+=(-DEMBER_HAVE_CMSGPACK) ;;
  esac
done

# 3. Compile. -wasm-enable-sjlj turns setjmp/longjmp (Lua's error handling)
# into wasm exceptions; -wasm-use-legacy-eh=false emits the standard exnref
# form wasmtime runs. LUA_ANSI and ENABLE_CJSON_GLOBAL are Redis's flags;
# LUA_USELONGLONG makes string.format's %d 64-bit, as `long` is on LP64.
# shim.h (forced include) keeps stdio's file functions out, so the module
# imports nothing but `ember`.
CFLAGS=(--target=wasm32-wasi -O2 -Wall -Wno-deprecated -Wno-deprecated-non-prototype
        -mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=false
        -DLUA_ANSI -DLUA_USELONGLONG -DENABLE_CJSON_GLOBAL "-DREDIS_STATIC=" "${DEFS[@]}"
        -include "$HERE/src/shim.h"
        -I"$HERE/src/include" -I"$BUILD/lua" -I"$HERE/src" -I"$BUILD/third_party"
        "-ffile-prefix-map=$BUILD=." "-ffile-prefix-map=$HERE=.")
LUA_CORE="lapi lcode ldebug ldo ldump lfunc lgc llex lmem lobject lopcodes lparser lstate lstring
          ltable ltm lundump lvm lzio lauxlib lbaselib ltablib lstrlib lmathlib"
SOURCES=()
for f in $LUA_CORE; do SOURCES+=("$BUILD/lua/$f.c"); done
SOURCES+=("$HERE"/src/engine.c "$HERE"/src/ldb.c "$HERE"/src/redis_api.c "$HERE"/src/resp.c "$HERE"/src/rand48.c
          "$HERE"/src/sha1.c "$HERE"/src/sjlj.c "$HERE"/src/shim.c "$HERE"/src/memcmp.c "${EXTRA[@]}")
pids=()
for src in "${SOURCES[@]}"; do
  obj="$BUILD/obj/$(basename "${src%.c}").o"
  extra=()
  [ "$(basename "$src")" = memcmp.c ] && extra=(-msimd128) # only there: wasm SIMD
  nice "$CC" "${CFLAGS[@]}" "${extra[@]}" -c "$src" -o "$obj" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$CC" --target=wasm32-wasi -c "$HERE/src/longjmp_tag.S" -o "$BUILD/obj/zz_longjmp_tag.o"

# 4. Link as a reactor (no main). No -O here: it would run wasm-opt from PATH,
# and Debian's binaryen cannot read exnref code. The shadow stack goes first,
# so overflowing it runs below address 0 and traps instead of corrupting data.
nice "$CC" --target=wasm32-wasi -mexec-model=reactor -Wno-deprecated \
  -Wl,--stack-first -Wl,-z,stack-size=1048576 -Wl,--strip-all \
  "$BUILD"/obj/*.o -lm -o "$BUILD/lua.wasm"
mkdir -p "$(dirname "$OUT")"
cp "$BUILD/lua.wasm" "$OUT"
echo "built $OUT ($(stat -c %s "$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -c1-16)...)"
