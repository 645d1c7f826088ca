#!/usr/bin/env bash
# lua/test/run.sh -- differential check of lua/src/lua_struct.c, lua_cmsgpack.c, lua_bit.c and
# the patched cjson (lua/third_party.sh) against redis-server 7.0.
#
# Builds lua/test/harness.c natively against Debian's Lua 5.1 (apt-get install liblua5.1-0-dev),
# starts its own redis-server on a free loopback port, runs every case of cases.txt (one Lua body
# per line) in both, wrapped by wrap.lua, and compares the printed results line by line.
# Also checks that our three files compile for wasm32-wasi with clang-22 and import nothing.
# Exit status 0 only when every case agrees. Usage: lua/test/run.sh [cases-file]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../src"
cases="${1:-$here/cases.txt}"
work="$(mktemp -d)"
port=""
cleanup() {
    if [ -n "$port" ]; then redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# cjson comes from lua/third_party.sh (Debian's source package plus our Redis patch).
"$here/../third_party.sh"
cj="$here/../build/third_party"
cc -O1 -g -Wall -Wextra -Werror -I/usr/include/lua5.1 -o "$work/harness" \
    "$here/harness.c" "$src/lua_struct.c" "$src/lua_cmsgpack.c" "$src/lua_bit.c" -llua5.1 -lm \
    -DWITH_CJSON -DENABLE_CJSON_GLOBAL -w "$cj/lua_cjson.c" "$cj/strbuf.c" "$cj/fpconv.c"

if command -v clang-22 >/dev/null 2>&1; then
    for f in lua_struct lua_cmsgpack lua_bit; do
        # Debian's luaconf.h includes a multiarch header that has no wasm32 flavour: an empty one
        # stands in for it (it only names the installation paths).
        mkdir -p "$work/inc" && : >"$work/inc/lua5.1-deb-multiarch.h"
        clang-22 --target=wasm32-wasi -Wno-deprecated -O2 -Wall -Wextra -Werror \
            -I"$work/inc" -I/usr/include/lua5.1 -c "$src/$f.c" -o "$work/$f.o"
        # Only Lua API symbols and libc's memory/ctype helpers may be undefined: no stdio, no WASI.
        if llvm-nm-22 -u "$work/$f.o" | grep -Ev ' (lua_.*|luaL_.*|mem(cpy|chr|set)|isalnum|isdigit|islower|__stack_pointer|__indirect_function_table)$' | grep -q .; then
            echo "wasm32 $f.o has unexpected undefined symbols:"; llvm-nm-22 -u "$work/$f.o"; exit 1
        fi
    done
    # The patched cjson must not reach stdio or exit either (built with -DNDEBUG: assert prints).
    for f in lua_cjson strbuf fpconv; do
        clang-22 --target=wasm32-wasi -Wno-deprecated -O2 -w -DNDEBUG -DENABLE_CJSON_GLOBAL \
            -I"$work/inc" -I/usr/include/lua5.1 -c "$cj/$f.c" -o "$work/$f.o"
        if llvm-nm-22 -u "$work/$f.o" | grep -E ' (.*printf|f?puts|fwrite|stderr|stdout|exit|abort|__assert_fail|fd_.*)$' | grep -Ev ' v?snprintf$' | grep -q .; then
            echo "wasm32 $f.o reaches stdio/exit:"; llvm-nm-22 -u "$work/$f.o"; exit 1
        fi
    done
    echo "wasm32-wasi: struct, cmsgpack, bit and the patched cjson compile, no stdio/WASI symbols"
else
    echo "clang-22 not installed: the wasm32 compile check was skipped"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

"$work/harness" "$here/wrap.lua" "$cases" >"$work/ours.txt"
wrap="$(cat "$here/wrap.lua")"
# Split around the placeholder (bash's ${x/p/r} would interpret backslashes and & in r).
before="${wrap%%@BODY@*}"
after="${wrap#*@BODY@}"
: >"$work/redis.txt"
while IFS= read -r line; do
    case "$line" in ""|--*) continue ;; esac
    body="$before$line$after"
    redis-cli -p "$port" --raw EVAL "$body" 0 >>"$work/redis.txt" 2>&1
done <"$cases"

total=0; bad=0
exec 3<"$work/redis.txt" 4<"$work/ours.txt"
while IFS= read -r line; do
    case "$line" in ""|--*) continue ;; esac
    IFS= read -r theirs <&3 || theirs="(missing)"
    IFS= read -r ours <&4 || ours="(missing)"
    total=$((total+1))
    if [ "$theirs" != "$ours" ]; then
        bad=$((bad+1))
        printf 'MISMATCH: %s\n  redis: %s\n  ours:  %s\n' "$line" "$theirs" "$ours"
    elif [ -n "${VERBOSE:-}" ]; then
        printf '%s\n  %s\n' "$line" "$ours"
    fi
done <"$cases"
echo "struct/cmsgpack/bit/cjson vs redis-server: $((total-bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
