#!/usr/bin/env bash
# Build Docker Compose v5 (the Go module github.com/docker/compose/v5) from the Go module proxy,
# as its own Makefile builds it (static, CGO off, `-X internal.Version`), into
# /opt/dovesnap/compose/v${COMPOSE_V5_VERSION}/docker-compose. The compose e2e test
# (test/e2e/compose.test.ts) runs it next to Debian's docker-compose 1.29.
#   scripts/compose/build-v5.sh [--force]
# Idempotent: when the binary is there and reports the pinned version it only prints it.
# Needs the Go that Compose's go.mod asks for (GO_MIN): /usr/local/go or a go in PATH when new
# enough; an older Go (>= 1.21) fetches that toolchain itself through the same proxy
# (GOTOOLCHAIN). Go's module and build caches live in ${COMPOSE_DIR}/.go during the build and are
# removed after a successful one (KEEP_GO_CACHE=1 keeps them for a quicker rebuild).
set -euo pipefail
LOG_TAG=dovesnap-compose-build
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- pinned: a change here builds again ----
COMPOSE_V5_VERSION=5.6.0
GO_MIN=1.26.8 # compose v5.6.0's go.mod says go 1.26.8

COMPOSE_DIR="${DOVESNAP_OPT}/compose"
HOME_DIR="${COMPOSE_DIR}/v${COMPOSE_V5_VERSION}"
BIN="${HOME_DIR}/docker-compose"
GO_DIR="${COMPOSE_DIR}/.go"
PKG=github.com/docker/compose/v5
GO=""

version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

go_version_of() {
  local v
  v="$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null)" || return 1
  v="${v#go}"
  printf '%s\n' "${v%% *}"
}

# ensure_go: GO is a Go >= GO_MIN; an older one (1.21 on) is told to fetch go${GO_MIN} itself.
ensure_go() {
  local candidate v older=""
  for candidate in /usr/local/go/bin/go "$(command -v go || true)"; do
    [[ -n "${candidate}" && -x "${candidate}" ]] || continue
    v="$(go_version_of "${candidate}")" || continue
    if version_ge "${v}" "${GO_MIN}"; then
      GO="${candidate}"
      export GOTOOLCHAIN=local
      log "go: ${GO} (go${v})"
      return 0
    fi
    version_ge "${v}" 1.21 && [[ -z "${older}" ]] && older="${candidate}"
  done
  [[ -n "${older}" ]] || die "go: no Go >= 1.21 in /usr/local/go or PATH to build Compose (needs go${GO_MIN})"
  GO="${older}"
  export GOTOOLCHAIN="go${GO_MIN}"
  log "go: ${GO} fetches go${GO_MIN} through ${GOPROXY:-https://proxy.golang.org,direct}"
}

built() {
  [[ -x "${BIN}" ]] && [[ "$("${BIN}" version --short 2>/dev/null)" == "${COMPOSE_V5_VERSION}" ]]
}

main() {
  local start src work
  if [[ "${1:-}" != --force ]] && built; then
    log "Compose ${COMPOSE_V5_VERSION} is built: ${BIN} ($(du -h "${BIN}" | cut -f1)); nothing to do (--force rebuilds)"
    return 0
  fi
  [[ "$(id -u)" -eq 0 ]] || die "Compose ${COMPOSE_V5_VERSION} is not built in ${BIN}: run as root to build it"
  mkdir -p "${COMPOSE_DIR}"
  exec 8>"${COMPOSE_DIR}/.build.lock"
  flock -w 3600 8 || die "another build holds ${COMPOSE_DIR}/.build.lock"
  mkdir -p "${GO_DIR}"
  export GOMODCACHE="${GO_DIR}/mod" GOCACHE="${GO_DIR}/cache" GOPATH="${GO_DIR}/path"
  export GO111MODULE=on GOFLAGS=-buildvcs=false CGO_ENABLED=0
  ensure_go
  start="${SECONDS}"
  log "building Compose ${COMPOSE_V5_VERSION} from ${GOPROXY:-https://proxy.golang.org,direct} (a few minutes)"
  src="$(cd / && "${GO}" mod download -json "${PKG}@v${COMPOSE_V5_VERSION}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -n "${src}" && -d "${src}" ]] || die "could not fetch ${PKG}@v${COMPOSE_V5_VERSION}"
  # The module cache is read-only: build in a writable copy.
  work="${GO_DIR}/src"
  rm -rf "${work}"
  cp -a "${src}" "${work}"
  chmod -R u+w "${work}"
  mkdir -p "${HOME_DIR}"
  (cd "${work}" && "${GO}" build -mod=readonly -trimpath \
    -ldflags "-w -X ${PKG}/internal.Version=v${COMPOSE_V5_VERSION}" -o "${BIN}.new" ./cmd) ||
    die "go build ${PKG}/cmd failed (in ${work})"
  mv -f "${BIN}.new" "${BIN}"
  built || die "${BIN} does not report version ${COMPOSE_V5_VERSION}"
  printf 'compose=%s\ngo=%s\nbuilt=%s\nseconds=%s\n' "${COMPOSE_V5_VERSION}" "$("${GO}" env GOVERSION)" "$(date -Is)" \
    "$((SECONDS - start))" >"${HOME_DIR}/BUILD-INFO"
  if [[ "${KEEP_GO_CACHE:-0}" == 1 ]]; then
    log "Go caches kept in ${GO_DIR} ($(du -sh "${GO_DIR}" | cut -f1); KEEP_GO_CACHE=1)"
  else
    log "Go caches: $(du -sh "${GO_DIR}" | cut -f1) in ${GO_DIR}, removed"
    "${GO}" clean -modcache
    rm -rf "${GO_DIR}"
  fi
  log "built in $((SECONDS - start))s: ${BIN} ($(du -h "${BIN}" | cut -f1)), $("${BIN}" version)"
}

main "$@"
