#!/usr/bin/env bash
# Installs the two Node baseline servers for the benchmark and builds the
# Nest one; safe to run again (does nothing when everything is in place).
#   - bench/nest:     `npm ci` from its package-lock.json, then `npm run build` (tsc -> dist/)
#   - bench/node-sio: `npm ci` from its package-lock.json
# Downloads nothing but the pinned npm packages. Install scripts are skipped:
# none of these packages needs one (@nestjs/core's only prints a banner).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "bench/setup.sh: $tool is not on PATH (Node 20 required)" >&2; exit 1; }
done

# npm_ci DIR: runs `npm ci` in DIR unless node_modules was installed from the
# same package-lock.json (a hash stamp inside node_modules says so).
npm_ci() {
  local dir="$1"
  local stamp="$dir/node_modules/.bench-lock.sha256"
  local want have
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  have="$(cat "$stamp" 2>/dev/null || true)"
  if [ ! -d "$dir/node_modules" ] || [ "$want" != "$have" ]; then
    echo "bench/setup.sh: installing npm packages in ${dir#"$here"/} (npm ci)"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
    echo "$want" > "$stamp"
  fi
}

# build_nest: compiles bench/nest/src to bench/nest/dist unless dist was built
# from the same sources, tsconfig and lockfile.
build_nest() {
  local dir="$here/nest"
  local stamp="$dir/dist/.bench-build.sha256"
  local want have
  want="$(cd "$dir" && find src -type f -name '*.ts' | LC_ALL=C sort | xargs sha256sum | cat - tsconfig.json package-lock.json | sha256sum | cut -d' ' -f1)"
  have="$(cat "$stamp" 2>/dev/null || true)"
  if [ ! -f "$dir/dist/main.js" ] || [ "$want" != "$have" ]; then
    echo "bench/setup.sh: building bench/nest (npm run build)"
    rm -rf "$dir/dist"
    (cd "$dir" && npm run --silent build)
    echo "$want" > "$stamp"
  fi
}

npm_ci "$here/nest"
npm_ci "$here/node-sio"
build_nest

echo "bench/setup.sh: node $(node --version); nest $(node -p "require('$here/nest/node_modules/@nestjs/core/package.json').version") on socket.io $(node -p "require('$here/nest/node_modules/socket.io/package.json').version"); node-sio on socket.io $(cd "$here/node-sio" && node -p "require('fs').readFileSync('node_modules/socket.io/package.json','utf8').match(/\"version\": \"([^\"]+)/)[1]"); up to date"
