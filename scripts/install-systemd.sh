#!/usr/bin/env bash
# Install deploy/systemd/*.service into /etc/systemd/system and enable them. Only on a host
# whose PID 1 is systemd; refuses otherwise (use `make up` there).
#   scripts/install-systemd.sh          copy + enable (they start at the next boot)
#   scripts/install-systemd.sh --now    also hand over now: stop what `make up` started by
#                                       hand (make down), then start the units
# Run `make up` first: it installs the packages, the FAUCET venv, the config and the app
# that the units run. With CONFRPC=1 (after `make up CONFRPC=1`, which installs its venv and
# keys) also dovesnap-faucetconfrpc.service, its settings file (CONFRPC_HOST) and a drop-in that
# makes FAUCET's metrics readable by the other hosts (scripts/confrpc.sh).
set -euo pipefail
LOG_TAG=dovesnap-systemd
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/confrpc.sh
source "$(dirname "${BASH_SOURCE[0]}")/confrpc.sh"

UNITS=(dovesnap-faucet.service dovesnap-gauge.service dovesnap.service)
UNIT_DIR=/etc/systemd/system
DEFAULTS_FILE=/etc/default/dovesnap

require_systemd() {
  local init
  init="$(ps -p 1 -o comm= 2>/dev/null || true)"
  if [[ ! -d /run/systemd/system || "${init}" != systemd ]]; then
    die "PID 1 is '${init:-unknown}', not systemd: the units cannot be used here. Use 'make up' / 'make down' instead."
  fi
}

require_installed() {
  [[ -x "${DOVESNAP_VENV}/bin/faucet" ]] || die "${DOVESNAP_VENV}/bin/faucet missing: run 'make up' first"
  [[ -x "${DOVESNAP_WRAPPER}" ]] || die "${DOVESNAP_WRAPPER} missing: run 'make up' first"
}

# The environment file the units read; created once, then the operator's.
write_defaults_file() {
  if [[ -e "${DEFAULTS_FILE}" ]]; then
    log "${DEFAULTS_FILE} exists; kept"
    return 0
  fi
  cat >"${DEFAULTS_FILE}" <<EOF
# dovesnap settings, read by dovesnap.service, dovesnap-faucet.service, dovesnap-gauge.service.
# Values here override the units' defaults. After a change: systemctl restart dovesnap.
FAUCET_PREFIX=${FAUCET_PREFIX}
FAUCET_CONFIG=${FAUCET_CONF_DIR}/faucet.yaml
GAUGE_CONFIG=${FAUCET_CONF_DIR}/gauge.yaml
# MIRROR_BRIDGE_OUT=eno99
# MIRROR_BRIDGE_IN=eth77
EOF
  log "wrote ${DEFAULTS_FILE}"
}

# CONFRPC=1: the faucetconfrpc unit, its settings (created once, then the operator's) and
# FAUCET's drop-in, which reads the same file (FAUCET_PROMETHEUS_ADDR).
install_confrpc() {
  [[ "${CONFRPC:-0}" == 1 ]] || return 0
  confrpc_resolve
  [[ -x "${CONFRPC_VENV}/bin/faucetconfrpc_server" ]] ||
    die "${CONFRPC_VENV}/bin/faucetconfrpc_server missing: run 'make up CONFRPC=1' first"
  local f
  while read -r f; do
    [[ -r "${f}" ]] || die "${f} missing: run 'make up CONFRPC=1 CONFRPC_HOST=${CONFRPC_HOST}' (or dovesnap confrpc keys) first"
  done < <(confrpc_server_files)
  if [[ -e "${CONFRPC_DEFAULTS_FILE}" ]]; then
    log "${CONFRPC_DEFAULTS_FILE} exists; kept"
  else
    printf '%s\n' "# faucetconfrpc settings, read by ${CONFRPC_UNIT} and (FAUCET_PROMETHEUS_ADDR) by" \
      "# dovesnap-faucet.service through ${CONFRPC_FAUCET_DROPIN}." \
      "# After a change: systemctl restart ${CONFRPC_UNIT} dovesnap-faucet.service" \
      "CONFRPC_HOST=${CONFRPC_HOST}" "FAUCETCONFRPC_KEYDIR=${FAUCETCONFRPC_KEYDIR}" \
      "FAUCET_PROMETHEUS_ADDR=$(faucet_prometheus_addr)" >"${CONFRPC_DEFAULTS_FILE}"
    log "wrote ${CONFRPC_DEFAULTS_FILE}"
  fi
  mkdir -p "$(dirname "${CONFRPC_FAUCET_DROPIN}")"
  printf '%s\n' "# From dovesnap (make install-systemd CONFRPC=1): FAUCET's metrics where other hosts read them." \
    "[Service]" "EnvironmentFile=-${CONFRPC_DEFAULTS_FILE}" >"${CONFRPC_FAUCET_DROPIN}"
  log "installed ${CONFRPC_FAUCET_DROPIN}"
  UNITS+=("${CONFRPC_UNIT}")
}

install_units() {
  local unit
  for unit in "${UNITS[@]}"; do
    install -m 644 "${REPO_ROOT}/deploy/systemd/${unit}" "${UNIT_DIR}/${unit}"
    log "installed ${UNIT_DIR}/${unit}"
  done
  systemctl daemon-reload
  systemctl enable "${UNITS[@]}"
}

start_units() {
  log "handing over from the hand-started processes to systemd"
  "${REPO_ROOT}/scripts/down.sh"
  systemctl start "${UNITS[@]}"
  systemctl --no-pager status "${UNITS[@]}" | head -n 40 || true
}

main() {
  require_root install-systemd
  require_systemd
  require_installed
  write_defaults_file
  install_confrpc
  install_units
  if [[ "${1:-}" == "--now" ]]; then
    start_units
  else
    log "enabled; they start at the next boot (or: scripts/install-systemd.sh --now)"
  fi
}

main "$@"
