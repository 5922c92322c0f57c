#!/usr/bin/env bash
# Install Node dependencies (npm ci) and compile (tsc -> dist/), each only when its inputs
# changed since the last successful run. No root needed.
#   scripts/build.sh          deps + build
#   scripts/build.sh --force  rebuild even if the stamps say nothing changed
set -euo pipefail
LOG_TAG=dovesnap-build
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEPS_STAMP=node_modules/.dovesnap-deps.sha256
BUILD_STAMP=dist/.dovesnap-build.sha256
FORCE=0

deps_hash() {
  { hash_tree package.json package-lock.json; node --version; } | sha256_stdin
}

sources_hash() {
  local dirs=() d
  for d in src test bench; do [[ -d "${d}" ]] && dirs+=("${d}"); done
  { hash_tree package.json package-lock.json tsconfig.json "${dirs[@]}"; node --version; } | sha256_stdin
}

ensure_deps() {
  local want
  want="$(deps_hash)"
  if [[ "${FORCE}" -eq 0 && -f "${DEPS_STAMP}" && "$(cat "${DEPS_STAMP}")" == "${want}" ]]; then
    log "node deps: up to date"
    return 0
  fi
  log "node deps: running npm ci (package.json/package-lock.json changed or first run)"
  npm ci --no-audit --no-fund --loglevel=error
  printf '%s\n' "${want}" >"${DEPS_STAMP}"
  CHANGED=1
}

# tsc never deletes outputs whose source is gone; a stale dist/test/x.test.js would still run.
prune_stale_outputs() {
  local js rel
  [[ -d dist ]] || return 0
  while IFS= read -r -d '' js; do
    rel="${js#dist/}"
    rel="${rel%.js}"
    if [[ ! -e "${rel}.ts" && ! -e "${rel}.tsx" && ! -e "${rel}.mts" ]]; then
      log "build: removing stale ${js} (its source is gone)"
      rm -f "${js}" "${js}.map"
    fi
  done < <(find dist -type f -name '*.js' -print0)
}

ensure_build() {
  local want
  want="$(sources_hash)"
  if [[ "${FORCE}" -eq 0 && -f "${BUILD_STAMP}" && "$(cat "${BUILD_STAMP}")" == "${want}" ]]; then
    log "build: dist/ up to date"
    return 0
  fi
  log "build: npm run build (tsc -> dist/)"
  rm -f "${BUILD_STAMP}"
  prune_stale_outputs
  npm run --silent build
  printf '%s\n' "${want}" >"${BUILD_STAMP}"
  CHANGED=1
}

main() {
  [[ "${1:-}" == "--force" ]] && FORCE=1
  cd "${REPO_ROOT}"
  CHANGED=0
  ensure_deps
  ensure_build
  if [[ "${CHANGED}" -eq 1 ]]; then log "done (rebuilt)"; else log "done (nothing to do)"; fi
}

main "$@"
