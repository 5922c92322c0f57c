#!/usr/bin/env bash
# `make down`: stop what `make up` started, in order: Prometheus (if `make up MONITORING=1`
# started it), the faucetconfrpc server (if `make up CONFRPC=1` started it; the next `make up`
# starts it again), the plugin daemon, Gauge, FAUCET (SIGTERM, wait, SIGKILL after a timeout).
# Docker and Open vSwitch keep running, so bridges and Docker networks survive and the next
# `make up` brings everything back.
#
# `make down-all` (scripts/down.sh --all) also takes the host out of a shared FAUCET configuration
# (FAUCETCONFRPC_ADDR: leave_shared_faucet), and stops ovs-vswitchd and ovsdb-server (the
# database file, and so the bridges' configuration, is kept) and dockerd, but dockerd only
# if `make up` started it (its marker file names the pid in /var/run/docker.pid), with the
# containerd of the current engine if that is the one running (scripts/engine/use.sh).
# Idempotent: stopping what is not running is not an error.
set -euo pipefail
LOG_TAG=dovesnap-down
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/monitoring.sh
source "$(dirname "${BASH_SOURCE[0]}")/monitoring.sh"
# shellcheck source=scripts/confrpc.sh
source "$(dirname "${BASH_SOURCE[0]}")/confrpc.sh"
# shellcheck source=scripts/engine/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/engine/lib.sh"

# On a host where scripts/install-systemd.sh handed them to systemd, stop the units instead.
stop_units_if_active() {
  local unit
  for unit in dovesnap.service dovesnap-gauge.service dovesnap-faucet.service; do
    if unit_active "${unit}"; then
      log "systemctl stop ${unit}"
      systemctl stop "${unit}"
    fi
  done
}

stop_controllers() {
  stop_prometheus
  # Before FAUCET: no write of another host's daemon lands while FAUCET is going away.
  stop_confrpc
  stop_units_if_active
  stop_pidfile dovesnap "${DAEMON_PIDFILE}" "${DAEMON_MATCH}" 30
  stop_pidfile gauge "${GAUGE_PIDFILE}" "${GAUGE_MATCH}" 15
  stop_pidfile faucet "${FAUCET_PIDFILE}" "${FAUCET_MATCH}" 15
}

# stop_ovs_daemon NAME PIDFILE: ask it to exit over its control socket, else SIGTERM/SIGKILL.
stop_ovs_daemon() {
  local name="$1" pidfile="$2" pid
  if ! pid="$(pidfile_pid "${pidfile}" "${name}")"; then
    log "${name}: not running"
    return 0
  fi
  log "${name}: stopping pid ${pid} (ovs-appctl exit)"
  ovs-appctl -T 10 -t "${name}" exit >/dev/null 2>&1 || true
  if wait_until 15 "${name} to exit" pid_gone "${pid}"; then
    rm -f "${pidfile}"
    log "${name}: stopped"
  else
    stop_pidfile "${name}" "${pidfile}" "${name}" 10
  fi
}

stop_dockerd_if_ours() {
  local pid ours
  pid="$(pidfile_pid "${DOCKERD_PIDFILE}" dockerd)" || { log "dockerd: not running"; return 0; }
  ours="$(cat "${DOCKERD_MARKER}" 2>/dev/null || true)"
  if [[ "${ours}" != "${pid}" ]]; then
    log "dockerd: pid ${pid} was not started by make up; leaving it running"
    return 0
  fi
  # dockerd may take a while: it stops containers (10 s grace each) before exiting.
  stop_pidfile dockerd "${DOCKERD_PIDFILE}" dockerd 60
  rm -f "${DOCKERD_MARKER}"
}

# With FAUCET's configuration on another host (the daemon ran with FAUCETCONFRPC_ADDR), `make
# down-all` takes this host out of it: its DPs and the stack ports pointing at them go
# (`dovesnap confrpc leave`, with the daemon's own environment, once the daemon is stopped). A
# controller away is a warning: the DPs stay there, `dovesnap confrpc leave` removes them later.
leave_shared_faucet() {
  local state="${DOVESNAP_RUN_DIR}/dovesnap.state" env=()
  [[ -f "${state}" ]] || return 0
  mapfile -t env < <(grep -v '^#' "${state}")
  printf '%s\n' "${env[@]}" | grep -q '^FAUCETCONFRPC_ADDR=.' && log "leaving the shared FAUCET configuration (dovesnap confrpc leave)"
  confrpc_leave '' "${env[@]}"
}

main() {
  local all=0
  [[ "${1:-}" == "--all" ]] && all=1
  require_root down
  mkdir -p "${DOVESNAP_RUN_DIR}"
  take_lock

  stop_controllers
  if [[ "${all}" -eq 1 ]]; then
    leave_shared_faucet
    stop_ovs_daemon ovs-vswitchd "${VSWITCHD_PIDFILE}"
    stop_ovs_daemon ovsdb-server "${OVSDB_PIDFILE}"
    stop_dockerd_if_ours
    # The current engine's own containerd (scripts/engine/use.sh current), once no dockerd uses it.
    pidfile_pid "${DOCKERD_PIDFILE}" dockerd >/dev/null || stop_current_containerd
    log "done: dovesnap, Gauge, FAUCET and Open vSwitch stopped (make up starts them again)"
  else
    log "done: dovesnap, Gauge and FAUCET stopped; Docker and Open vSwitch left running"
  fi
}

main "$@"
