#!/usr/bin/env bash
# Debian packages the tests need beyond the stack that `make up` installs: Chromium for the
# live view's browser test (Debian's build; puppeteer-core, an npm dev dependency, drives it
# and downloads no browser), ISC dhclient and dhcpcd for `dovesnap attach … dhclient` and
# `… dhcpcd`, mmdebstrap for the lab images' test, and docker-compose (1.29) for the Compose
# test, which also runs Compose v5, built here from the Go module proxy (scripts/compose/build-v5.sh,
# about 80 s and 800 MB of Go caches that are removed after). Idempotent: installs and builds
# only what is missing.
set -euo pipefail
LOG_TAG=dovesnap-test-deps
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# mmdebstrap is `make up`'s too; listed here for test/e2e/lab-images.test.ts, which builds with it.
TEST_PACKAGES=(chromium isc-dhcp-client dhcpcd-base docker-compose mmdebstrap)

install_packages() {
  local missing=() pkg
  for pkg in "${TEST_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("${pkg}")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "test packages: all ${#TEST_PACKAGES[@]} installed"
    return 0
  fi
  [[ "$(id -u)" -eq 0 ]] || die "test packages ${missing[*]} are missing: run as root to install them"
  log "test packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

main() {
  install_packages
  "$(dirname "${BASH_SOURCE[0]}")/compose/build-v5.sh"
}

main "$@"
