#!/usr/bin/env bash
# `make status`: one line per component (state, pid, details), then where the logs are.
# Exit status 0 when every component is up, 3 otherwise. Read-only.
set -euo pipefail
LOG_TAG=dovesnap-status
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/monitoring.sh
source "$(dirname "${BASH_SOURCE[0]}")/monitoring.sh"
# shellcheck source=scripts/confrpc.sh
source "$(dirname "${BASH_SOURCE[0]}")/confrpc.sh"

DOWN=0

row() { printf '  %-15s %-9s %-8s %s\n' "$1" "$2" "$3" "$4"; }

show_pidfile_component() {
  local name="$1" pidfile="$2" match="$3" detail="$4" pid
  if pid="$(pidfile_pid "${pidfile}" "${match}")"; then
    row "${name}" running "${pid}" "${detail}"
  else
    row "${name}" DOWN - "${detail}"
    DOWN=1
  fi
}

show_docker() {
  local pid version by=""
  pid="$(cat "${DOCKERD_PIDFILE}" 2>/dev/null || echo -)"
  if version="$(timeout 10 docker info --format '{{.ServerVersion}}' 2>/dev/null)"; then
    [[ "$(cat "${DOCKERD_MARKER}" 2>/dev/null)" == "${pid}" ]] && by=", started by make up"
    row docker running "${pid}" "engine ${version}${by}"
  else
    row docker DOWN - "docker info fails"
    DOWN=1
  fi
}

# FAUCET's metrics as the daemon reads them (`dovesnap faucet health`: 0 ok, 4 load error).
faucet_detail() {
  local rc=0
  dovesnap_cli faucet health --metrics "${FAUCET_METRICS_URL}" >/dev/null 2>&1 || rc=$?
  case "${rc}" in
    0) printf '%s ok' "${FAUCET_METRICS_URL}" ;;
    4) printf '%s CONFIG LOAD ERROR' "${FAUCET_METRICS_URL}" ;;
    *) printf '%s not answering' "${FAUCET_METRICS_URL}" ;;
  esac
}

# Gauge exposes nothing about its configuration: answering is all there is to say.
gauge_detail() {
  local url="http://127.0.0.1:${GAUGE_PROM_PORT}/metrics"
  if http_ok "${url}"; then printf '%s ok' "${url}"; else printf '%s not answering' "${url}"; fi
}

show_daemon() {
  local pid health="healthz not answering" sock="no socket"
  http_ok "http://${DOVESNAP_STATUS_ADDR}/healthz" && health="healthz ok"
  [[ -S "${DOVESNAP_PLUGIN_SOCK}" ]] && sock="${DOVESNAP_PLUGIN_SOCK}"
  if unit_active dovesnap.service; then
    pid="$(systemctl show -p MainPID --value dovesnap.service)"
    row dovesnap running "${pid}" "${health}, ${sock} (systemd)"
  elif pid="$(pidfile_pid "${DAEMON_PIDFILE}" "${DAEMON_MATCH}")"; then
    row dovesnap running "${pid}" "${health}, ${sock}"
  elif pid="$({ ss -Hxlp src "${DOVESNAP_PLUGIN_SOCK}" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2; } || true)" &&
    [[ -n "${pid}" ]]; then
    row dovesnap running "${pid}" "${health}, ${sock} (not started by make up: $(cmdline_of "${pid}"))"
  elif [[ ! -f "${DOVESNAP_APP}/dist/src/cli/main.js" ]]; then
    row dovesnap "DOWN" - "not installed (${DOVESNAP_APP}/dist/src/cli/main.js missing)"
    DOWN=1
  else
    row dovesnap DOWN - "${health}, ${sock}"
    DOWN=1
  fi
}

# Shown once `make up MONITORING=1` has started it (its pidfile, or our drop-in on systemd).
show_prometheus() {
  local detail
  detail="$(prometheus_health)"
  if [[ -f "${PROMETHEUS_DROPIN}" ]] && unit_known prometheus.service; then
    if unit_active prometheus.service; then
      row prometheus running "$(systemctl show -p MainPID --value prometheus.service)" "${detail} (systemd)"
    else
      row prometheus DOWN - "${detail} (systemd)"
      DOWN=1
    fi
  elif [[ -e "${PROMETHEUS_PIDFILE}" ]]; then
    show_pidfile_component prometheus "${PROMETHEUS_PIDFILE}" "${PROMETHEUS_MATCH}" "${detail}"
  fi
}

# Shown once `make up CONFRPC=1` has started it (its state file, or its unit on systemd).
show_confrpc() {
  local detail
  if unit_known "${CONFRPC_UNIT}"; then
    # The unit's address is in its defaults file.
    CONFRPC_HOST="$(sed -n 's/^CONFRPC_HOST=//p' "${CONFRPC_DEFAULTS_FILE}" 2>/dev/null | tail -n 1 || true)"
    : "${CONFRPC_HOST:=127.0.0.1}"
    detail="$(confrpc_health)"
    if unit_active "${CONFRPC_UNIT}"; then
      row faucetconfrpc running "$(systemctl show -p MainPID --value "${CONFRPC_UNIT}")" "${detail} (systemd)"
    else
      row faucetconfrpc DOWN - "${detail} (systemd)"
      DOWN=1
    fi
  elif [[ -e "${CONFRPC_STATE}" ]]; then
    CONFRPC_HOST="$(confrpc_recorded_host)"
    show_pidfile_component faucetconfrpc "${CONFRPC_PIDFILE}" "${CONFRPC_MATCH}" "$(confrpc_health)"
  fi
}

log_names() {
  local f names=()
  for f in "${DOVESNAP_LOG_DIR}"/*.log; do [[ -e "${f}" ]] && names+=("${f##*/}"); done
  printf '%s' "${names[*]:-none yet}"
}

main() {
  local datapath app
  datapath="$(cat "${DOVESNAP_RUN_DIR}/datapath" 2>/dev/null || echo unknown)"
  app="$(readlink "${DOVESNAP_APP}" 2>/dev/null || echo 'not installed')"
  log "component       state     pid      details"
  show_docker
  show_pidfile_component ovsdb-server "${OVSDB_PIDFILE}" ovsdb-server "${OVS_RUN_DIR}/db.sock"
  show_pidfile_component ovs-vswitchd "${VSWITCHD_PIDFILE}" ovs-vswitchd "datapath ${datapath}"
  show_pidfile_component faucet "${FAUCET_PIDFILE}" "${FAUCET_MATCH}" \
    "of :${FAUCET_OF_PORT}, $(faucet_detail)"
  show_pidfile_component gauge "${GAUGE_PIDFILE}" "${GAUGE_MATCH}" \
    "of :${GAUGE_OF_PORT}, $(gauge_detail)"
  show_daemon
  show_prometheus
  show_confrpc
  log "config: ${FAUCET_CONF_DIR}/{faucet,gauge}.yaml; app: ${DOVESNAP_APP} -> ${app}"
  log "logs: ${DOVESNAP_LOG_DIR}/ ($(log_names))"
  [[ "${DOWN}" -eq 0 ]] || exit 3
}

main "$@"
