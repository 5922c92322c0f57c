#!/usr/bin/env bash
# dovesnap as a managed (v2) Docker plugin, for Docker Swarm: the swarm manager refuses legacy
# plugins (docs/swarm.md), so this installs a plugin named dovesnap whose only program
# (deploy/swarm-plugin/forwarder, static Go) pipes Docker's calls to the host's dovesnap daemon
# socket (/run/docker/plugins/dovesnap.sock, mounted in the plugin at /host-plugins).
#   scripts/swarm-plugin.sh build DIR     write the plugin directory (config.json, rootfs/) to DIR
#   scripts/swarm-plugin.sh install       build, then `docker plugin create` + `enable` on DOCKER_HOST
#   scripts/swarm-plugin.sh remove        `docker plugin disable -f` + `rm -f` on DOCKER_HOST
# env: DOCKER_HOST (the engine to install on; unset: the local one), DOVESNAP_PLUGIN_NAME
# (default dovesnap), DOCKER (the client, default docker), GO (default: go on PATH, else /usr/local/go/bin/go; 1.22 or newer).
set -euo pipefail
LOG_TAG=dovesnap-swarm-plugin
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PLUGIN_NAME="${DOVESNAP_PLUGIN_NAME:-dovesnap}"
DOCKER="${DOCKER:-docker}"
# The official tarball's place when `go` is not on PATH (a service manager's or CI's PATH).
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
SRC="${REPO_ROOT}/deploy/swarm-plugin"
WORK=""

cleanup() { [[ -n "${WORK}" ]] && rm -rf "${WORK}"; return 0; }

build() {
  local dir="$1"
  command -v "${GO}" >/dev/null || die "GO=${GO}: no Go toolchain found (the forwarder is built from ${SRC}/forwarder)"
  mkdir -p "${dir}/rootfs"
  # The mount points the plugin's runtime uses; runc would make them, but a read-only rootfs could not.
  mkdir -p "${dir}/rootfs/"{dev,proc,sys,tmp,etc,run/docker/plugins,host-plugins}
  (cd "${SRC}/forwarder" && CGO_ENABLED=0 "${GO}" build -trimpath -ldflags='-s -w' -o "${dir}/rootfs/forwarder" .) ||
    die "building the forwarder in ${SRC}/forwarder failed"
  cp "${SRC}/config.json" "${dir}/config.json"
}

install_plugin() {
  if "${DOCKER}" plugin inspect "${PLUGIN_NAME}" >/dev/null 2>&1; then
    log "plugin ${PLUGIN_NAME} is already installed on ${DOCKER_HOST:-the local engine}"
  else
    trap cleanup EXIT
    WORK="$(mktemp -d)"
    build "${WORK}"
    "${DOCKER}" plugin create "${PLUGIN_NAME}" "${WORK}" >/dev/null ||
      die "docker plugin create ${PLUGIN_NAME} failed on ${DOCKER_HOST:-the local engine}"
  fi
  [[ "$("${DOCKER}" plugin inspect --format '{{.Enabled}}' "${PLUGIN_NAME}")" == true ]] ||
    "${DOCKER}" plugin enable "${PLUGIN_NAME}" >/dev/null ||
    die "docker plugin enable ${PLUGIN_NAME} failed on ${DOCKER_HOST:-the local engine} (is dovesnap running there?)"
  log "plugin ${PLUGIN_NAME} enabled on ${DOCKER_HOST:-the local engine}"
}

remove_plugin() {
  "${DOCKER}" plugin inspect "${PLUGIN_NAME}" >/dev/null 2>&1 || return 0
  "${DOCKER}" plugin disable -f "${PLUGIN_NAME}" >/dev/null 2>&1 || true
  "${DOCKER}" plugin rm -f "${PLUGIN_NAME}" >/dev/null
  log "plugin ${PLUGIN_NAME} removed from ${DOCKER_HOST:-the local engine}"
}

main() {
  case "${1:-}" in
    build) [[ -n "${2:-}" ]] || die "usage: $0 build DIR"; build "$2" ;;
    install) install_plugin ;;
    remove) remove_plugin ;;
    *) die "usage: $0 build DIR | install | remove" ;;
  esac
}

main "$@"
