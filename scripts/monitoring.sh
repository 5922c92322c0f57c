# shellcheck shell=bash
# Prometheus for `make up MONITORING=1`: sourced by up.sh, down.sh and status.sh after lib.sh
# (never run). Debian's prometheus package with our configuration (deploy/prometheus/, installed
# into ${PROMETHEUS_CONF_DIR}), storage in ${PROMETHEUS_DATA_DIR}, listening on
# ${PROMETHEUS_ADDR}. Without systemd as PID 1 it runs as the package's `prometheus` user,
# started like FAUCET (pidfile, log in ${DOVESNAP_LOG_DIR}); on a systemd host Debian's
# prometheus.service runs it, pointed at our files by a drop-in. See docs/monitoring.md.

monitoring_wanted() { [[ "${MONITORING:-0}" == 1 ]]; }

# Prometheus' command line, one argument a line. A change restarts it; a change of the
# configuration files only reloads it.
prometheus_args() {
  printf '%s\n' "--config.file=${PROMETHEUS_CONF_DIR}/prometheus.yml" \
    "--storage.tsdb.path=${PROMETHEUS_DATA_DIR}" \
    "--storage.tsdb.retention.time=${PROMETHEUS_RETENTION}" \
    "--web.listen-address=${PROMETHEUS_ADDR}"
}

# What the running Prometheus was started with: its arguments and the package version.
prometheus_state() {
  prometheus_args
  printf '# package=%s\n' "$(dpkg-query -W -f='${Version}' prometheus 2>/dev/null || true)"
}

# The daemon's status API as Prometheus reaches it (a wildcard listen address on loopback).
dovesnap_scrape_target() {
  local addr="${DOVESNAP_STATUS_ADDR}"
  case "${addr}" in
    0.0.0.0:*) addr="127.0.0.1:${addr#0.0.0.0:}" ;;
    "[::]:"*) addr="[::1]:${addr#\[::\]:}" ;;
  esac
  printf '%s\n' "${addr}"
}

# render_prometheus_config DIR: the files to install, written into DIR.
render_prometheus_config() {
  local dir="$1" src="${REPO_ROOT}/deploy/prometheus"
  sed "s/'127\.0\.0\.1:9401'/'$(dovesnap_scrape_target)'/" "${src}/prometheus.yml" >"${dir}/prometheus.yml"
  cp "${src}/dovesnap-rules.yml" "${dir}/dovesnap-rules.yml"
}

PROMETHEUS_FILES=(prometheus.yml dovesnap-rules.yml)
PROMETHEUS_CONFIG_CHANGED=0

# Installs the configuration when it differs from what is installed; promtool checks it first,
# so a broken file never reaches Prometheus.
install_prometheus_config() {
  local stage name out same=1
  stage="$(mktemp -d)"
  render_prometheus_config "${stage}"
  for name in "${PROMETHEUS_FILES[@]}"; do
    cmp -s "${stage}/${name}" "${PROMETHEUS_CONF_DIR}/${name}" || same=0
  done
  if [[ "${same}" -eq 1 ]]; then
    rm -rf "${stage}"
    log "prometheus: configuration in ${PROMETHEUS_CONF_DIR} is current"
    return 0
  fi
  if ! out="$(promtool check config "${stage}/prometheus.yml" 2>&1)"; then
    printf '%s\n' "${out}" >&2
    rm -rf "${stage}"
    die "prometheus: promtool refuses the configuration made from deploy/prometheus/ (above); nothing installed"
  fi
  mkdir -p "${PROMETHEUS_CONF_DIR}"
  for name in "${PROMETHEUS_FILES[@]}"; do
    install -m 644 "${stage}/${name}" "${PROMETHEUS_CONF_DIR}/.${name}.tmp"
    mv -f "${PROMETHEUS_CONF_DIR}/.${name}.tmp" "${PROMETHEUS_CONF_DIR}/${name}"
  done
  rm -rf "${stage}"
  log "prometheus: installed ${PROMETHEUS_FILES[*]} into ${PROMETHEUS_CONF_DIR}"
  PROMETHEUS_CONFIG_CHANGED=1
  changed "prometheus-config"
}

prometheus_ready() {
  if ! unit_active prometheus.service; then pidfile_alive "${PROMETHEUS_PIDFILE}" || return 3; fi
  http_ok "http://${PROMETHEUS_ADDR}/-/ready"
}

# When Prometheus last loaded its configuration successfully (a float with sub-second digits).
prometheus_reload_stamp() {
  local body
  body="$(curl -sf --max-time 3 "http://${PROMETHEUS_ADDR}/metrics" 2>/dev/null)" || return 1
  awk '$1 == "prometheus_config_last_reload_success_timestamp_seconds" {print $2}' <<<"${body}"
}

prometheus_reloaded_since() {
  local now
  now="$(prometheus_reload_stamp)" || return 1
  [[ -n "${now}" && "${now}" != "$1" ]]
}

reload_prometheus() {
  local pid="$1" before
  before="$(prometheus_reload_stamp || true)"
  log "prometheus: reloading its configuration (SIGHUP to pid ${pid})"
  kill -HUP "${pid}"
  if ! wait_until 30 "Prometheus to load its new configuration" prometheus_reloaded_since "${before}"; then
    log_tail "${DOVESNAP_LOG_DIR}/prometheus.log"
    die "prometheus: pid ${pid} did not load the new configuration in ${PROMETHEUS_CONF_DIR}"
  fi
  changed "prometheus (reloaded)"
}

start_prometheus() {
  log "prometheus: starting on ${PROMETHEUS_ADDR} (data ${PROMETHEUS_DATA_DIR})"
  start_recorded prometheus "${PROMETHEUS_PIDFILE}" "${DOVESNAP_LOG_DIR}/prometheus.log" \
    "${DOVESNAP_RUN_DIR}/prometheus.state" prometheus_state prometheus_args \
    env -i -C / PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    setpriv --reuid=prometheus --regid=prometheus --init-groups /usr/bin/prometheus
  changed "prometheus"
}

# Without systemd: keep a running Prometheus (reload it when its files changed, restart it when
# its command line or package did), adopt an untracked one of ours, refuse a stranger on the port.
ensure_prometheus_process() {
  local pid
  pid="$(tracked_pid prometheus "${PROMETHEUS_PIDFILE}" "${PROMETHEUS_MATCH}" "${PROMETHEUS_ADDR##*:}" \
    " (a Prometheus of your own can load dovesnap's rules instead: docs/monitoring.md)")"
  if [[ -n "${pid}" ]]; then
    if ! cmp -s <(prometheus_state) "${DOVESNAP_RUN_DIR}/prometheus.state"; then
      log "prometheus: restarting (its command line or package changed)"
      stop_pidfile prometheus "${PROMETHEUS_PIDFILE}" "${PROMETHEUS_MATCH}" 60
    elif [[ "${PROMETHEUS_CONFIG_CHANGED}" -eq 1 ]]; then
      reload_prometheus "${pid}"
      return 0
    else
      log "prometheus: running (pid ${pid})"
      return 0
    fi
  fi
  start_prometheus
}

# The drop-in that points Debian's prometheus.service at our files (its User= and ExecReload=,
# a SIGHUP, stay Debian's).
prometheus_dropin() {
  printf '%s\n' "# From dovesnap (make up MONITORING=1, scripts/monitoring.sh): prometheus.service runs with" \
    "# dovesnap's configuration and storage. Remove this file and run systemctl daemon-reload to undo." \
    "[Service]" "ExecStart=" "ExecStart=/usr/bin/prometheus $(prometheus_args | paste -sd' ')"
}

ensure_prometheus_systemd() {
  if [[ "$(cat "${PROMETHEUS_DROPIN}" 2>/dev/null)" != "$(prometheus_dropin)" ]]; then
    mkdir -p "$(dirname "${PROMETHEUS_DROPIN}")"
    prometheus_dropin >"${PROMETHEUS_DROPIN}"
    systemctl daemon-reload
    log "prometheus: systemctl restart prometheus.service (${PROMETHEUS_DROPIN} points it at ${PROMETHEUS_CONF_DIR})"
    systemctl restart prometheus.service
    changed "prometheus"
  elif ! systemctl is-active --quiet prometheus.service; then
    log "prometheus: systemctl start prometheus.service"
    systemctl start prometheus.service
    changed "prometheus"
  elif [[ "${PROMETHEUS_CONFIG_CHANGED}" -eq 1 ]]; then
    log "prometheus: systemctl reload prometheus.service"
    systemctl reload prometheus.service
    changed "prometheus (reloaded)"
  else
    log "prometheus: running under systemd (prometheus.service with ${PROMETHEUS_DROPIN})"
  fi
}

# The storage and configuration directories, reachable by the prometheus user whatever the modes of dovesnap's own
# state directories; history kept where an older release left it is moved (while Prometheus is
# stopped: a running one would go on writing into the old place).
ensure_prometheus_data_dir() {
  install -d -m 755 "$(dirname "${PROMETHEUS_DATA_DIR}")"
  # The configuration too: an earlier `dovesnap confrpc keys` made /etc/dovesnap root's alone.
  install -d -m 755 "$(dirname "${PROMETHEUS_CONF_DIR}")" "${PROMETHEUS_CONF_DIR}"
  if [[ -d "${PROMETHEUS_OLD_DATA_DIR}" && ! -e "${PROMETHEUS_DATA_DIR}" ]]; then
    stop_prometheus
    log "prometheus: moving its storage from ${PROMETHEUS_OLD_DATA_DIR} to ${PROMETHEUS_DATA_DIR}"
    mv "${PROMETHEUS_OLD_DATA_DIR}" "${PROMETHEUS_DATA_DIR}"
    changed "prometheus-storage"
  fi
  install -d -o prometheus -g prometheus -m 750 "${PROMETHEUS_DATA_DIR}"
}

# up.sh with MONITORING=1 (needs up.sh's pkg_installed, apt_install and changed).
ensure_prometheus() {
  monitoring_wanted || return 0
  if ! pkg_installed prometheus; then
    # Not its recommended node exporter: a host-metrics daemon is the operator's choice.
    log "prometheus: installing Debian's prometheus package"
    apt_install --no-install-recommends prometheus
    changed "prometheus-package"
  fi
  install_prometheus_config
  ensure_prometheus_data_dir
  if unit_known prometheus.service; then
    ensure_prometheus_systemd
  else
    ensure_prometheus_process
  fi
  if ! wait_until 60 "Prometheus ready on ${PROMETHEUS_ADDR}" prometheus_ready; then
    log_tail "${DOVESNAP_LOG_DIR}/prometheus.log"
    die "prometheus: not ready on http://${PROMETHEUS_ADDR}/-/ready within 60s"
  fi
  log "prometheus: ready on http://${PROMETHEUS_ADDR} (FAUCET, Gauge and dovesnap scraped; rules ${PROMETHEUS_CONF_DIR}/dovesnap-rules.yml)"
}

# down.sh: stop the Prometheus that make up started (or the unit our drop-in configures).
stop_prometheus() {
  if [[ -f "${PROMETHEUS_DROPIN}" ]] && unit_active prometheus.service; then
    log "systemctl stop prometheus.service"
    systemctl stop prometheus.service
  elif [[ -e "${PROMETHEUS_PIDFILE}" ]]; then
    # Prometheus writes its in-memory block out before it exits: give it time.
    stop_pidfile prometheus "${PROMETHEUS_PIDFILE}" "${PROMETHEUS_MATCH}" 60
  fi
}

# status.sh: whether it answers, and how many of its targets are up.
prometheus_health() {
  local targets
  http_ok "http://${PROMETHEUS_ADDR}/-/ready" || { printf 'http://%s not ready' "${PROMETHEUS_ADDR}"; return 0; }
  targets="$(curl -sf --max-time 3 "http://${PROMETHEUS_ADDR}/api/v1/targets?state=active" 2>/dev/null)" || targets=""
  printf 'http://%s ready, targets up %s/%s' "${PROMETHEUS_ADDR}" \
    "$({ grep -o '"health":"up"' <<<"${targets}" || true; } | wc -l)" \
    "$({ grep -o '"health":"' <<<"${targets}" || true; } | wc -l)"
}
