#!/usr/bin/env bash
# Installs what the web app's build needs, skipping whatever is already there (a second run is a fast no-op): the
# npm packages of web/ from its package-lock.json (`npm ci`); with --browser also Debian's chromium for the
# end-to-end tests (Playwright drives it; no browser is ever downloaded by a test tool). `make run` needs no browser.
#
#   scripts/web-deps.sh [--browser]
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WEB_DIR="$REPO_ROOT/web"
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

check_node() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    die "node and npm not found: the web app needs Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR with npm (Debian 12's nodejs is too old)"
  local version major minor
  version="$(node --version)"
  IFS=. read -r major minor _ <<<"${version#v}"
  if ((major < NODE_MIN_MAJOR || (major == NODE_MIN_MAJOR && minor < NODE_MIN_MINOR))); then
    die "node $version is too old: Vite needs >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR"
  fi
  ok "node $version, npm $(npm --version 2>/dev/null)"
}

# `npm ci` when node_modules is missing or was installed from another package-lock.json.
install_npm_packages() {
  local stamp="$WEB_DIR/node_modules/.fiapx-package-lock"
  if [[ -d "$WEB_DIR/node_modules" ]] && cmp -s "$WEB_DIR/package-lock.json" "$stamp"; then
    ok "web/node_modules present"
    return 0
  fi
  info "npm ci in web/"
  (cd "$WEB_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$WEB_DIR/package-lock.json" "$stamp"
  ok "web/node_modules installed"
}

install_chromium() {
  if [[ -x "$CHROMIUM" ]]; then
    ok "chromium present ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
    return 0
  fi
  command -v dpkg-query >/dev/null 2>&1 || die "$CHROMIUM not found and this is not Debian: install Chromium, or set CHROMIUM_PATH"
  info "installing Debian's chromium (for the web app's end-to-end tests)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium
  [[ -x "$CHROMIUM" ]] || die "chromium installed, but $CHROMIUM is not there"
  ok "chromium installed ($("$CHROMIUM" --version 2>/dev/null))"
}

main() {
  local browser=false
  case "${1:-}" in
  "") ;;
  --browser) browser=true ;;
  *) die "usage: scripts/web-deps.sh [--browser]" ;;
  esac
  info "web dependencies"
  check_node
  install_npm_packages
  if "$browser"; then install_chromium; fi
}

main "$@"
