#!/usr/bin/env bash
# Installs what the interop tests need; safe to run again (does nothing when
# everything is already in place). Called by the Makefile.
#   - Debian's chromium at /usr/bin/chromium (never a downloaded browser)
#   - the pinned npm packages in node/, from package-lock.json via `npm ci`
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$here/node"
# Must match lockStampFile in interop_test.go.
stamp="$node_dir/node_modules/.interop-lock.sha256"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
  echo "setup.sh: installing Debian chromium"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "setup.sh: $tool is not on PATH (Node 20 required)" >&2; exit 1; }
done

want="$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ ! -d "$node_dir/node_modules" ] || [ "$want" != "$have" ]; then
  echo "setup.sh: installing npm packages (npm ci)"
  # Never let a dependency download a browser.
  (cd "$node_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  echo "$want" > "$stamp"
fi
echo "setup.sh: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), node $(node --version), npm packages up to date"
