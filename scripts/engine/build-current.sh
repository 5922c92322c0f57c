#!/usr/bin/env bash
# Build the current Docker Engine that `scripts/engine/use.sh current` runs (make
# test-engine-current): Docker 29's dockerd and docker-proxy (github.com/moby/moby/v2), its docker
# CLI (github.com/docker/cli), containerd 2 with its runc shim and ctr, and runc with seccomp,
# all compiled from sources fetched through the Go module proxy (no git, no registry, no release
# tarball), plus Debian's tini-static as docker-init. Installs into
# /opt/dovesnap/engines/docker-VERSION/bin (the versions are in scripts/engine/lib.sh).
#   scripts/engine/build-current.sh [--force]
# Idempotent: when the binaries are there and report the right versions it only prints them.
# Needs Go >= 1.26.3 (a Go toolchain found in PATH, /usr/local/go or DOVESNAP_ENGINE_GO); without
# one, Go 1.26.8 is fetched as the module golang.org/toolchain through the same proxy,
# bootstrapped by Debian's Go 1.19. Debian build packages (gcc, pkg-config, libseccomp-dev,
# tini) are installed when missing. Go's module and build caches live in
# /opt/dovesnap/engines/.go during the build and are removed after a successful one
# (KEEP_GO_CACHE=1 keeps them for a quicker rebuild).
set -euo pipefail
LOG_TAG=dovesnap-engine-build
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=scripts/engine/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GO_MIN=1.26.3        # moby/moby/v2 v2.0.0-beta.24's and containerd 2.3.5's go.mod say go 1.26.3
GO_FALLBACK=1.26.8   # the Go that its own Dockerfile builds with
BUILD_PACKAGES=(gcc libc6-dev pkg-config libseccomp-dev tini)
GO_DIR="${ENGINES_DIR}/.go"
WORK="${CURRENT_ENGINE_HOME}/build"
OUT="${CURRENT_ENGINE_HOME}/bin.new"
# The proxy serves no commit ids; this is what the binaries report instead of one.
BUILD_ID=gomodproxy
GO=""

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -q
  apt-get install -y -q --no-install-recommends "$@"
}

ensure_build_packages() {
  local missing=() pkg
  for pkg in "${BUILD_PACKAGES[@]}"; do pkg_installed "${pkg}" || missing+=("${pkg}"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "packages: installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  pkg-config --exists libseccomp || die "pkg-config does not find libseccomp (libseccomp-dev): runc needs it for seccomp"
  [[ -x /usr/bin/tini-static ]] || die "/usr/bin/tini-static missing (package tini)"
}

version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

go_version_of() {
  local v
  v="$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null)" || return 1
  v="${v#go}"
  printf '%s\n' "${v%% *}"
}

# fetch_go_toolchain BOOTSTRAP_GO: Go ${GO_FALLBACK} as the Go command itself fetches a newer
# toolchain (the module golang.org/toolchain, checked against the checksum database).
fetch_go_toolchain() {
  local bootstrap="$1" dir="${ENGINES_DIR}/go${GO_FALLBACK}" arch src
  arch="$(dpkg --print-architecture)"
  log "go: fetching Go ${GO_FALLBACK} (golang.org/toolchain@v0.0.1-go${GO_FALLBACK}.linux-${arch}) with ${bootstrap}"
  src="$(cd / && GOMODCACHE="${GO_DIR}/mod" GOFLAGS='' "${bootstrap}" mod download -json \
    "golang.org/toolchain@v0.0.1-go${GO_FALLBACK}.linux-${arch}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -n "${src}" && -d "${src}/bin" ]] || die "go: could not fetch Go ${GO_FALLBACK} through $(go_proxy)"
  rm -rf "${dir}.tmp"
  cp -a "${src}" "${dir}.tmp"
  chmod -R u+w "${dir}.tmp"
  # Module zips carry no file modes.
  chmod +x "${dir}.tmp"/bin/* "${dir}.tmp"/pkg/tool/*/*
  rm -rf "${dir}"
  mv -T "${dir}.tmp" "${dir}"
}

go_proxy() { printf '%s\n' "${GOPROXY:-https://proxy.golang.org,direct}"; }

ensure_go() {
  local candidate v bootstrap=""
  for candidate in "${DOVESNAP_ENGINE_GO:-}" "$(command -v go || true)" /usr/local/go/bin/go "${ENGINES_DIR}/go${GO_FALLBACK}/bin/go"; do
    [[ -n "${candidate}" && -x "${candidate}" ]] || continue
    v="$(go_version_of "${candidate}")" || continue
    if version_ge "${v}" "${GO_MIN}"; then
      GO="${candidate}"
      log "go: ${GO} (go${v})"
      return 0
    fi
    [[ -n "${bootstrap}" ]] || bootstrap="${candidate}"
  done
  if [[ -z "${bootstrap}" ]]; then
    pkg_installed golang-1.19-go || { log "go: none installed; installing Debian's golang-1.19-go to bootstrap"; apt_install golang-1.19-go; }
    bootstrap=/usr/lib/go-1.19/bin/go
  fi
  fetch_go_toolchain "${bootstrap}"
  GO="${ENGINES_DIR}/go${GO_FALLBACK}/bin/go"
  v="$(go_version_of "${GO}")" || die "go: ${GO} does not run"
  log "go: ${GO} (go${v})"
}

# module_source MODULE VERSION DEST: a writable copy of the module's source (the read-only
# module cache is never built in). vendor/ holds only modules.txt in a module zip: removed, so
# that Go builds from the modules go.sum pins.
module_source() {
  local module="$1" version="$2" dest="$3" src
  src="$(cd / && "${GO}" mod download -json "${module}@${version}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -n "${src}" && -d "${src}" ]] || die "could not fetch ${module}@${version} through $(go_proxy)"
  rm -rf "${dest}"
  cp -a "${src}" "${dest}"
  chmod -R u+w "${dest}"
  rm -rf "${dest}/vendor"
}

# go_build DIR CGO OUTPUT TAGS LDFLAGS PACKAGE [EXTRA-FLAG...]
go_build() {
  local dir="$1" cgo="$2" output="$3" tags="$4" ldflags="$5" package="$6" start="${SECONDS}"
  shift 6
  (cd "${dir}" && CGO_ENABLED="${cgo}" "${GO}" build -mod=readonly -trimpath "$@" \
    -tags "${tags}" -ldflags "${ldflags}" -o "${output}" "${package}") ||
    die "go build ${package} failed (in ${dir})"
  log "built $(basename "${output}") in $((SECONDS - start))s"
}

build_runc() {
  module_source github.com/opencontainers/runc "v${CURRENT_RUNC_VERSION}" "${WORK}/runc"
  # As runc's `make static`: static PIE, libseccomp linked in. Without its default libpathrs
  # tag, which links a Rust library that Debian does not package: runc then uses its built-in
  # pathrs-lite.
  go_build "${WORK}/runc" 1 "${OUT}/runc" "seccomp urfave_cli_no_docs netgo osusergo" \
    "-X main.gitCommit=${BUILD_ID} -linkmode external -extldflags -static-pie" . -buildmode=pie
}

build_containerd() {
  local pkg=github.com/containerd/containerd/v2 ldflags
  module_source "${pkg}" "v${CURRENT_CONTAINERD_VERSION}" "${WORK}/containerd"
  ldflags="-X ${pkg}/version.Version=v${CURRENT_CONTAINERD_VERSION} -X ${pkg}/version.Revision=${BUILD_ID} -X ${pkg}/version.Package=${pkg}"
  # Without cgo: static, and without the btrfs snapshotter (cgo only), which dockerd never uses.
  go_build "${WORK}/containerd" 0 "${OUT}/containerd" "urfave_cli_no_docs no_btrfs" "${ldflags}" ./cmd/containerd
  # As containerd's Makefile builds the shim: no gRPC server in it (ttrpc only).
  go_build "${WORK}/containerd" 0 "${OUT}/containerd-shim-runc-v2" "urfave_cli_no_docs no_grpc" "${ldflags}" ./cmd/containerd-shim-runc-v2
  go_build "${WORK}/containerd" 0 "${OUT}/ctr" "urfave_cli_no_docs" "${ldflags}" ./cmd/ctr
}

build_docker() {
  local pkg=github.com/moby/moby/v2 src="${WORK}/docker" ldflags
  module_source "${pkg}" "${CURRENT_MOBY_MODULE_VERSION}" "${src}"
  # The build is the module version: the proxy serves no commit ids.
  ldflags="-w -X ${pkg}/dockerversion.Version=${CURRENT_DOCKER_VERSION} -X ${pkg}/dockerversion.GitCommit=${CURRENT_MOBY_MODULE_VERSION}"
  # As hack/make/binary-daemon: static, cgo; no btrfs (needs its headers); NRI without its
  # WebAssembly plugins, as hack/make.sh builds it.
  go_build "${src}" 1 "${OUT}/dockerd" \
    "netgo osusergo static_build nri_no_wasm exclude_graphdriver_btrfs" \
    "${ldflags} -extldflags -static" ./cmd/dockerd
  go_build "${src}" 0 "${OUT}/docker-proxy" "netgo osusergo static_build" "${ldflags}" ./cmd/docker-proxy
}

# The engine's own client: Docker 29.0 refused Debian's 20.10 client (API 1.41; its minimum was
# 1.44), and the e2e tests drive each engine with the client made for it.
build_cli() {
  local pkg=github.com/docker/cli src="${WORK}/cli"
  module_source "${pkg}" "v${CURRENT_CLI_VERSION}+incompatible" "${src}"
  # The CLI is not a Go module: its vendor.mod/vendor.sum are the go.mod/go.sum it builds with.
  mv "${src}/vendor.mod" "${src}/go.mod"
  mv "${src}/vendor.sum" "${src}/go.sum"
  # As its scripts/build/binary: static, without cgo.
  go_build "${src}" 0 "${OUT}/docker" "osusergo netgo" \
    "-w -X ${pkg}/cli/version.Version=${CURRENT_CLI_VERSION} -X ${pkg}/cli/version.GitCommit=${BUILD_ID}" ./cmd/docker
}

print_versions() {
  local bin="${CURRENT_ENGINE_BIN}"
  log "$("${bin}/dockerd" --version)"
  log "client: $("${bin}/docker" --version)"
  log "$("${bin}/containerd" --version)"
  log "$("${bin}/runc" --version | head -n1) ($("${bin}/runc" --version | grep -E '^(libseccomp|go):' | tr '\n' ' ' | sed 's/ $//'))"
  log "docker-init: $("${bin}/docker-init" --version)"
  log "in ${bin} ($(du -sh "${bin}" | cut -f1))"
}

write_build_info() {
  {
    printf 'revision=%s\n' "${CURRENT_BUILD_REVISION}"
    printf 'docker=%s\nmoby-module=%s\ncli=%s\n' "${CURRENT_DOCKER_VERSION}" "${CURRENT_MOBY_MODULE_VERSION}" "${CURRENT_CLI_VERSION}"
    printf 'containerd=%s\nrunc=%s\n' "${CURRENT_CONTAINERD_VERSION}" "${CURRENT_RUNC_VERSION}"
    printf 'go=%s\ngoproxy=%s\nbuilt=%s\nseconds=%s\n' "$(go_version_of "${GO}")" "$(go_proxy)" "$(date -Is)" "$1"
  } >"${CURRENT_BUILD_INFO}"
}

cleanup_go_caches() {
  if [[ "${KEEP_GO_CACHE:-0}" == 1 ]]; then
    log "Go caches kept in ${GO_DIR} ($(du -sh "${GO_DIR}" | cut -f1); KEEP_GO_CACHE=1)"
    return 0
  fi
  # The module cache is read-only by design: go clean removes it.
  [[ -d "${GO_DIR}/mod" ]] && GOMODCACHE="${GO_DIR}/mod" "${GO}" clean -modcache
  rm -rf "${GO_DIR}"
}

main() {
  local start
  require_root engine-current
  if [[ "${1:-}" != --force ]] && current_engine_built; then
    log "Docker ${CURRENT_DOCKER_VERSION} is built; nothing to do (--force rebuilds)"
    print_versions
    return 0
  fi
  # The swap below would pull the binaries from under a running engine (and use.sh would no
  # longer know it for the current one).
  [[ "$(running_engine)" != current ]] ||
    die "Docker ${CURRENT_DOCKER_VERSION} runs as the host's engine from ${CURRENT_ENGINE_BIN}: scripts/engine/use.sh debian first"
  mkdir -p "${ENGINES_DIR}"
  exec 8>"${ENGINES_DIR}/.build.lock"
  flock -w 3600 8 || die "another build holds ${ENGINES_DIR}/.build.lock"
  ensure_build_packages
  mkdir -p "${GO_DIR}"
  export GOMODCACHE="${GO_DIR}/mod" GOCACHE="${GO_DIR}/cache" GOPATH="${GO_DIR}/path"
  export GOTOOLCHAIN=local GO111MODULE=on GOFLAGS=-buildvcs=false
  ensure_go
  start="${SECONDS}"
  log "building Docker ${CURRENT_DOCKER_VERSION} (${CURRENT_MOBY_MODULE_VERSION}) and its CLI ${CURRENT_CLI_VERSION}, containerd ${CURRENT_CONTAINERD_VERSION}, runc ${CURRENT_RUNC_VERSION} from $(go_proxy) (a few minutes)"
  rm -rf "${WORK}" "${OUT}"
  mkdir -p "${WORK}" "${OUT}"
  build_runc
  build_containerd
  build_docker
  build_cli
  install -m 755 /usr/bin/tini-static "${OUT}/docker-init"
  # Swap in the new set whole: a running engine keeps the files it runs.
  rm -rf "${CURRENT_ENGINE_BIN}.old"
  [[ -d "${CURRENT_ENGINE_BIN}" ]] && mv -T "${CURRENT_ENGINE_BIN}" "${CURRENT_ENGINE_BIN}.old"
  mv -T "${OUT}" "${CURRENT_ENGINE_BIN}"
  mkdir -p "${CURRENT_CLIENT_DIR}"
  ln -sfn ../bin/docker "${CURRENT_CLIENT_DIR}/docker"
  rm -rf "${CURRENT_ENGINE_BIN}.old" "${WORK}"
  write_build_info "$((SECONDS - start))"
  current_engine_built || die "the binaries in ${CURRENT_ENGINE_BIN} do not report the expected versions"
  cleanup_go_caches
  log "built in $((SECONDS - start))s"
  print_versions
}

main "$@"
