#!/usr/bin/env bash
# Check formatting and lint rules (Biome, configured in biome.json) without changing a file.
# `make fmt` applies the formatter and the linter's safe fixes.
#   scripts/lint.sh          check (what `make test` runs; fails on any difference or error)
#   scripts/lint.sh --write  format and apply safe fixes
set -euo pipefail
LOG_TAG=dovesnap-lint
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  cd "${REPO_ROOT}"
  [[ -x node_modules/.bin/biome ]] || die "node_modules/.bin/biome is missing: run scripts/build.sh (npm ci) first"
  if [[ "${1:-}" == --write ]]; then
    node_modules/.bin/biome check --write .
  else
    log "biome: formatting and lint rules over src, test, bench and web"
    node_modules/.bin/biome ci --colors=off --reporter=summary . || die "biome found problems: run 'make fmt' for formatting and safe fixes, then fix the rest by hand"
  fi
}

main "$@"
