#!/usr/bin/env bash
# Swap the host's Docker Engine, as root:
#   scripts/engine/use.sh current [--force]   Docker 29     (scripts/engine/build-current.sh)
#   scripts/engine/use.sh debian [--force]    Debian's docker.io 20.10, as `make up` starts it
#   scripts/engine/use.sh                     which engine is recorded and which one runs
# Stops the engine serving /var/run/docker.sock (docker.service, or the dockerd in
# /var/run/docker.pid, with SIGTERM: it stops its containers first), removes Docker's own
# iptables chains (scripts/engine/lib.sh says why), records the choice in
# /var/lib/dovesnap/engine, starts the chosen engine and waits until `docker info` answers.
# From then on `make up`, and the tests that restart dockerd through it, start that engine.
# Idempotent: when the chosen engine already answers it only records the choice.
#
# The current engine keeps everything in /var/lib/docker-current and /run/docker-current (with
# a containerd of its own): the images, containers and networks of one engine are not seen by
# the other, and come back when it does. The dovesnap daemon keeps running; on its next full
# pass it removes the bridges of dovesnap networks the new engine does not have. So the swap is
# refused while the engine being left has networks of dovesnap's drivers (dovesnap, ovs,
# narwhal), which would lose their bridges, FAUCET DPs or routes: remove them first, or pass
# --force to swap anyway (make test-engine-current does so going back to Debian's engine, to
# clean up after a failed test).
set -euo pipefail
LOG_TAG=dovesnap-engine
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=scripts/engine/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOVESNAP_DRIVERS=(dovesnap ovs narwhal)
FORCE=0

usage() {
  sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

server_version() { timeout 20 "$(running_client)" -H "unix://${DOCKER_SOCK}" version --format '{{.Server.Version}}' 2>/dev/null; }

# Networks of dovesnap's drivers on the engine that answers now, one "NAME (DRIVER)" a line.
dovesnap_networks() {
  local out name driver known
  out="$(timeout 20 "$(running_client)" -H "unix://${DOCKER_SOCK}" network ls --format '{{.Name}} {{.Driver}}')" || return 1
  while read -r name driver; do
    for known in "${DOVESNAP_DRIVERS[@]}"; do
      if [[ "${driver}" == "${known}" ]]; then printf '%s (%s)\n' "${name}" "${driver}"; fi
    done
  done <<<"${out}"
}

# guard_networks LEAVING: refuse (unless --force) to leave an engine with dovesnap networks.
guard_networks() {
  local leaving="$1" nets
  if ! engine_answers "${DOCKER_SOCK}"; then
    log "no engine answers on ${DOCKER_SOCK}: nothing to check for dovesnap networks"
    return 0
  fi
  nets="$(dovesnap_networks)" || die "could not list the networks of the running engine"
  [[ -n "${nets}" ]] || return 0
  if [[ "${FORCE}" -eq 1 ]]; then
    warn "--force: leaving ${leaving} with these networks; the dovesnap daemon removes their bridges, and they do not work again when ${leaving} is back: ${nets//$'\n'/, }"
    return 0
  fi
  die "the engine being left (${leaving}) has dovesnap networks: ${nets//$'\n'/, }. Under the other engine the dovesnap daemon would remove their bridges and FAUCET entries. Remove them first (docker network rm), or use --force"
}

show_status() {
  local running version
  running="$(running_engine)"
  version="$(server_version || echo 'not answering')"
  log "recorded: $(active_engine) (${ENGINE_STATE_FILE}); running: ${running} (${version})"
  if current_engine_built; then
    log "current engine: Docker ${CURRENT_DOCKER_VERSION} built in ${CURRENT_ENGINE_BIN}"
  else
    log "current engine: not built (scripts/engine/build-current.sh)"
  fi
}

use_current() {
  local running
  current_engine_built || die "Docker ${CURRENT_DOCKER_VERSION} is not built in ${CURRENT_ENGINE_BIN}: run scripts/engine/build-current.sh first"
  running="$(running_engine)"
  if [[ "${running}" == current ]] && engine_answers "${DOCKER_SOCK}"; then
    record_engine current
    log "Docker ${CURRENT_DOCKER_VERSION} is the host's engine already (pid $(cat "${DOCKERD_PIDFILE}"))"
    return 0
  fi
  guard_networks "${running}"
  # Leaving Debian's engine: what its firewall looked like is restored when it comes back.
  [[ "$(active_engine)" == current ]] || snapshot_firewall
  stop_host_engine
  remove_docker_chains
  record_engine current
  start_current_engine || die "Docker ${CURRENT_DOCKER_VERSION} did not start (log ${CUR_DOCKERD_LOG}); scripts/engine/use.sh debian goes back to Debian's engine"
  log "the host's engine is Docker $(server_version) now (data in ${CUR_DATA_ROOT}); make up and dockerd restarts start it until scripts/engine/use.sh debian"
}

use_debian() {
  local running
  running="$(running_engine)"
  if [[ "${running}" == debian ]] && engine_answers "${DOCKER_SOCK}"; then
    record_engine debian
    log "Debian's engine is the host's engine already (pid $(cat "${DOCKERD_PIDFILE}"), Docker $(server_version))"
    return 0
  fi
  guard_networks "${running}"
  stop_host_engine
  remove_docker_chains
  restore_firewall
  record_engine debian
  start_debian_engine
  log "the host's engine is Debian's again: Docker $(server_version)"
}

main() {
  local target="" arg
  for arg in "$@"; do
    case "${arg}" in
      current | debian) [[ -z "${target}" ]] || usage; target="${arg}" ;;
      --force) FORCE=1 ;;
      -h | --help) usage ;;
      *) usage ;;
    esac
  done
  if [[ -z "${target}" ]]; then
    show_status
    return 0
  fi
  require_root "test-engine-current"
  require_docker_cli
  mkdir -p "${DOVESNAP_RUN_DIR}" "${DOVESNAP_LOG_DIR}"
  # make up / make down hold the same lock: neither runs while the engine is swapped.
  take_lock
  "use_${target}"
}

main "$@"
