#!/bin/sh
# Builds the agent's exec helper as a static binary: build/guest/hypeman-exec-spawn.
# Static, because it runs in container roots with any libc or none. Run by `npm install`
# (package.json "install") and by the guest tests when the binary is missing or stale.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="$root/build/guest"
mkdir -p "$out"
cc=${CC:-gcc}
"$cc" -static -Os -std=c11 -Wall -Wextra -Werror -o "$out/hypeman-exec-spawn.$$.tmp" "$here/spawn-helper.c"
strip "$out/hypeman-exec-spawn.$$.tmp" 2>/dev/null || true
mv "$out/hypeman-exec-spawn.$$.tmp" "$out/hypeman-exec-spawn"
