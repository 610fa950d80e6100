#!/usr/bin/env bash
# Installs what the tests need; safe to run again (does nothing when
# everything is already in place). Called by the Makefile.
#   - Debian's chromium at /usr/bin/chromium (never a downloaded browser)
#   - Debian's redis-server, which the Redis store and multi-node tests start
#     themselves on random loopback ports (no service is left running)
#   - Debian's nginx, which the sticky load-balancer test starts itself on
#     loopback with cmd/chatserver/deploy/nginx.conf (no service is left running)
#   - the pinned npm packages in node/, from package-lock.json via `npm ci`
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$here/node"
# Must match lockStampFile in nodetest/nodetest.go.
stamp="$node_dir/node_modules/.interop-lock.sha256"

# Seconds apt-get waits for another apt-get's lock.
apt_lock_timeout=600

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing Debian packages: ${missing[*]}"
  # Wait for a dpkg or apt lock held by another apt-get (a parallel
  # `make test`, unattended-upgrades) instead of failing at once.
  as_root apt-get -o DPkg::Lock::Timeout="$apt_lock_timeout" update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$apt_lock_timeout" install -y --no-install-recommends "${missing[@]}"
  # Debian's package starts a system redis on port 6379; the tests start
  # their own, so stop it rather than leave a service behind.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    as_root service redis-server stop >/dev/null 2>&1 || true
  fi
  # Likewise nginx's package starts a server on port 80.
  if [[ " ${missing[*]} " == *" nginx "* ]]; then
    as_root service nginx stop >/dev/null 2>&1 || true
  fi
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
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
echo "setup.sh: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), $(redis-server --version | awk '{print $1, $3}'), $("$nginx_bin" -v 2>&1 | awk '{print $3}'), node $(node --version), npm packages up to date"
