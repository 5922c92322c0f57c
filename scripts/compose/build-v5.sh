#!/usr/bin/env bash
# Build Docker Compose v5 (the Go module github.com/docker/compose/v5) from the Go module proxy,
# as its own Makefile builds it (static, CGO off, `-X internal.Version`), into
# /opt/dovesnap/compose/v${COMPOSE_V5_VERSION}/docker-compose. The compose e2e test
# (test/e2e/compose.test.ts) runs it next to Debian's docker-compose 1.29.
#   scripts/compose/build-v5.sh [--force]
# Idempotent: when the binary is there and reports the pinned version it only prints it.
# Needs the Go that Compose's go.mod asks for (GO_MIN): /usr/local/go (else a go in PATH) when
# new enough; an older Go (>= 1.21) fetches that toolchain itself through the same proxy
# (GOTOOLCHAIN=auto). Go's module and build caches live in ${COMPOSE_DIR}/.go during the build
# and are removed after a successful one (KEEP_GO_CACHE=1 keeps them for a quicker rebuild).
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

# ensure_go: /usr/local/go, else the go in PATH. One older than Compose's go.mod asks for fetches
# that toolchain itself through the same proxy (GOTOOLCHAIN=auto, Go >= 1.21); a new enough one
# builds as it is.
ensure_go() {
  local candidate
  for candidate in /usr/local/go/bin/go "$(command -v go || true)"; do
    if [[ -n "${candidate}" && -x "${candidate}" ]]; then
      GO="${candidate}"
      break
    fi
  done
  [[ -n "${GO}" ]] || die "go: none in /usr/local/go or PATH (Compose ${COMPOSE_V5_VERSION} needs go${GO_MIN}; a Go >= 1.21 fetches it)"
  export GOTOOLCHAIN=auto
  log "go: ${GO} ($("${GO}" env GOVERSION))"
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
  # In the module: the toolchain that built it, fetched or not.
  printf 'compose=%s\ngo=%s\nbuilt=%s\nseconds=%s\n' "${COMPOSE_V5_VERSION}" "$(cd "${work}" && "${GO}" env GOVERSION)" "$(date -Is)" \
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
