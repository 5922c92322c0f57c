#!/usr/bin/env bash
# `make up`: install and start everything dovesnap needs on a Debian 12 host, as root.
# Idempotent: each step checks first and changes only what is missing or out of date;
# a second run changes nothing and says so. Daemons that are already running (started by
# hand, by systemd or by an earlier run) are detected and left alone.
#
# Steps: Debian packages -> npm ci + tsc -> Docker Engine -> Open vSwitch -> FAUCET venv ->
# FAUCET/Gauge config -> FAUCET -> Gauge -> faucetconfrpc (CONFRPC=1) -> app in /opt/dovesnap/app ->
# plugin daemon -> Prometheus (MONITORING=1 only) -> the local example image (dovesnap-busybox) -> summary.
#
# Environment: FAUCET_PREFIX (config dir ${FAUCET_PREFIX}/etc/faucet), and MIRROR_BRIDGE_OUT,
# MIRROR_BRIDGE_IN, STACK* and any DOVESNAP_* variable, which are passed to the plugin daemon
# (a change in them restarts it; `dovesnap settings --env` prints what it is started with).
# What the daemon also knows (the datapath, FAUCET's health, its environment) is asked of the
# dovesnap CLI this run builds first, not worked out again here. SKIP_DAEMON=1 leaves the plugin daemon alone (for a developer
# who runs `node dist/src/cli/main.js daemon` from the work tree against this stack).
# MONITORING=1 also installs and runs Prometheus with dovesnap's rules (scripts/monitoring.sh,
# PROMETHEUS_RETENTION, default 15d); without it a running Prometheus is left as it is.
# CONFRPC=1 also runs the faucetconfrpc server on CONFRPC_HOST (default 127.0.0.1), for dovesnap
# on other hosts (scripts/confrpc.sh; keys in FAUCETCONFRPC_KEYDIR, default /etc/dovesnap/confrpc);
# without CONFRPC a server an earlier CONFRPC=1 started is kept, CONFRPC=0 stops it.
set -euo pipefail
LOG_TAG=dovesnap-up
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/monitoring.sh
source "$(dirname "${BASH_SOURCE[0]}")/monitoring.sh"
# shellcheck source=scripts/confrpc.sh
source "$(dirname "${BASH_SOURCE[0]}")/confrpc.sh"
# shellcheck source=scripts/engine/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/engine/lib.sh"

# mmdebstrap: `dovesnap lab image build` makes the lab's Debian images (frr, capture) with it.
# openssl: `dovesnap confrpc keys` makes faucetconfrpc's certificates with it.
PACKAGES=(docker.io openvswitch-switch nftables iproute2 ethtool busybox-static python3-venv
  python3-pip graphviz curl procps util-linux tcpdump mmdebstrap openssl)
CHANGES=()          # what this run changed, for the final line
APP_CHANGED=0       # the installed app was replaced in this run -> restart the daemon
FAUCET_CHANGED=0    # the faucet package was (re)installed -> restart FAUCET and Gauge
DAEMON_NOTE=""      # why the daemon was not started, if it was not

changed() { CHANGES+=("$1"); }

# ---------------------------------------------------------------- 1. Debian packages
pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Without systemd as PID 1, package scripts would try to start docker/OVS through sysv init
# scripts (and fail, or start copies we do not track). We start everything ourselves, so tell
# invoke-rc.d to start nothing for the duration of the install (the Debian policy-rc.d hook).
POLICY_RC_CREATED=0
policy_rc_begin() {
  if [[ ! -d /run/systemd/system && ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from dovesnap scripts/up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
}
policy_rc_end() {
  if [[ "${POLICY_RC_CREATED}" -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
}

ensure_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do pkg_installed "${pkg}" || missing+=("${pkg}"); done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "packages: all ${#PACKAGES[@]} Debian packages installed"
    return 0
  fi
  log "packages: installing ${missing[*]}"
  apt_install "${missing[@]}"
  changed "packages"
}

# apt_install [APT-OPTION...] PACKAGE...: install with no service started (policy-rc.d above).
apt_install() {
  # NEEDRESTART_SUSPEND: needrestart (if present) must not restart docker/OVS behind our back.
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  policy_rc_begin
  trap policy_rc_end EXIT
  apt-get update -q
  apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
  policy_rc_end
  trap - EXIT
}

# ---------------------------------------------------------------- 2. build
build_stamps() { cat "${REPO_ROOT}"/node_modules/.dovesnap-deps.sha256 "${REPO_ROOT}"/dist/.dovesnap-build.sha256 2>/dev/null || true; }

ensure_build() {
  local before
  before="$(build_stamps)"
  "${REPO_ROOT}/scripts/build.sh" || die "build failed (see above)"
  [[ "$(build_stamps)" == "${before}" ]] || changed "build"
}

# ---------------------------------------------------------------- 3. Docker Engine
# Asked without a docker client, so that no client's API version decides it (scripts/engine/lib.sh).
docker_ok() { engine_answers "${DOCKER_SOCK}"; }

# The engine is Debian's unless scripts/engine/use.sh recorded the current one (Docker 29).
ensure_docker() {
  local engine running
  engine="$(active_engine)"
  if docker_ok; then
    log "docker: engine answering (pid $(cat "${DOCKERD_PIDFILE}" 2>/dev/null || echo '?')), left alone"
    running="$(running_engine)"
    if [[ "${running}" != "${engine}" && "${running}" != none ]]; then
      warn "docker: the engine answering is ${running}, but ${ENGINE_STATE_FILE} records ${engine}: scripts/engine/use.sh ${engine} swaps it"
    fi
    return 0
  fi
  if [[ "${engine}" == current ]]; then
    log "docker: engine not answering; starting Docker ${CURRENT_DOCKER_VERSION} (${ENGINE_STATE_FILE}: current)"
    start_current_engine || die "docker: Docker ${CURRENT_DOCKER_VERSION} did not start (scripts/engine/use.sh debian goes back to Debian's engine)"
  else
    start_debian_engine
  fi
  changed "dockerd"
}

# ---------------------------------------------------------------- 4. Open vSwitch
ensure_ovs_db() {
  mkdir -p "$(dirname "${OVS_DB}")"
  if [[ ! -e "${OVS_DB}" ]]; then
    log "ovs: creating ${OVS_DB}"
    ovsdb-tool create "${OVS_DB}" "${OVS_SCHEMA}"
  elif [[ "$(ovsdb-tool needs-conversion "${OVS_DB}" "${OVS_SCHEMA}")" == "yes" ]]; then
    log "ovs: converting ${OVS_DB} to the installed schema (backup ${OVS_DB}.bak)"
    cp -p "${OVS_DB}" "${OVS_DB}.bak"
    ovsdb-tool convert "${OVS_DB}" "${OVS_SCHEMA}"
  fi
}

start_ovsdb_server() {
  ensure_ovs_db
  log "ovs: starting ovsdb-server (log ${DOVESNAP_LOG_DIR}/ovsdb-server.log)"
  (close_inherited_fds && exec ovsdb-server "${OVS_DB}" \
    --remote="punix:${OVS_RUN_DIR}/db.sock" \
    --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
    --pidfile="${OVSDB_PIDFILE}" --detach -vconsole:err \
    --log-file="${DOVESNAP_LOG_DIR}/ovsdb-server.log") ||
    { log_tail "${DOVESNAP_LOG_DIR}/ovsdb-server.log"; die "ovs: ovsdb-server failed to start"; }
  changed "ovsdb-server"
}

start_ovs_vswitchd() {
  log "ovs: starting ovs-vswitchd (log ${DOVESNAP_LOG_DIR}/ovs-vswitchd.log)"
  (close_inherited_fds && exec ovs-vswitchd "unix:${OVS_RUN_DIR}/db.sock" \
    --pidfile="${VSWITCHD_PIDFILE}" --detach -vconsole:err \
    --log-file="${DOVESNAP_LOG_DIR}/ovs-vswitchd.log") ||
    { log_tail "${DOVESNAP_LOG_DIR}/ovs-vswitchd.log"; die "ovs: ovs-vswitchd failed to start"; }
  changed "ovs-vswitchd"
}

# The datapath the daemon's bridges use (its own detection, DOVESNAP_DATAPATH included), recorded
# for `make status` and the tests.
record_datapath() {
  local dp old=""
  dp="$(dovesnap_cli host datapath)" || die "ovs: 'dovesnap host datapath' failed"
  [[ -r "${DOVESNAP_RUN_DIR}/datapath" ]] && old="$(cat "${DOVESNAP_RUN_DIR}/datapath")"
  if [[ "${old}" != "${dp}" ]]; then
    printf '%s\n' "${dp}" >"${DOVESNAP_RUN_DIR}/datapath"
    changed "datapath=${dp}"
  fi
  if [[ -n "${DOVESNAP_DATAPATH:-}" ]]; then
    log "ovs: datapath '${dp}' (DOVESNAP_DATAPATH=${DOVESNAP_DATAPATH})"
  elif [[ "${dp}" == system ]]; then
    log "ovs: datapath 'system' (kernel openvswitch module loaded)"
  else
    log "ovs: datapath 'netdev' (no kernel openvswitch module: userspace datapath)"
  fi
}

ensure_ovs() {
  local pid
  if [[ ! -d /sys/module/openvswitch ]] && command -v modprobe >/dev/null; then
    modprobe openvswitch 2>/dev/null || true
  fi
  mkdir -p "${OVS_RUN_DIR}"
  if ! pidfile_pid "${OVSDB_PIDFILE}" ovsdb-server >/dev/null && unit_known openvswitch-switch.service; then
    log "ovs: systemctl start openvswitch-switch.service"
    systemctl start openvswitch-switch.service
    changed "openvswitch-switch"
  fi
  if pid="$(pidfile_pid "${OVSDB_PIDFILE}" ovsdb-server)"; then
    log "ovs: ovsdb-server running (pid ${pid})"
  else
    start_ovsdb_server
  fi
  ovs-vsctl --timeout=10 --no-wait init
  if pid="$(pidfile_pid "${VSWITCHD_PIDFILE}" ovs-vswitchd)"; then
    log "ovs: ovs-vswitchd running (pid ${pid})"
  else
    start_ovs_vswitchd
  fi
  ovs-vsctl --timeout=5 show >/dev/null || die "ovs: 'ovs-vsctl show' does not answer"
  record_datapath
}

# ---------------------------------------------------------------- 5. FAUCET and Gauge
venv_is_debian() {
  [[ -x "$1/bin/python3" ]] && grep -qx 'home = /usr/bin' "$1/pyvenv.cfg" 2>/dev/null
}

# venv_package_version VENV PACKAGE: the version installed there, or nothing.
venv_package_version() {
  "$1/bin/python3" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$2" 2>/dev/null || true
}

# ensure_venv TAG VENV PACKAGE VERSION: VENV is a venv of Debian's /usr/bin/python3 with
# PACKAGE==VERSION installed. Sets VENV_INSTALLED=1 when this call (re)installed the package.
VENV_INSTALLED=0
ensure_venv() {
  local tag="$1" venv="$2" package="$3" version="$4" start=${SECONDS}
  VENV_INSTALLED=0
  if ! venv_is_debian "${venv}"; then
    if [[ -e "${venv}" ]]; then
      log "${tag}: ${venv} is not a venv of Debian's /usr/bin/python3; recreating it"
      rm -rf "${venv}"
    fi
    log "${tag}: creating virtualenv ${venv}"
    mkdir -p "${DOVESNAP_OPT}"
    /usr/bin/python3 -m venv "${venv}"
    changed "${tag}-venv"
  fi
  if [[ "$(venv_package_version "${venv}" "${package}")" == "${version}" ]]; then
    log "${tag}: ${package} ${version} installed in ${venv}"
    return 0
  fi
  log "${tag}: pip install ${package}==${version} (a minute or so)"
  # DEBINSTALL=1: faucet's setup.py (and that of c65faucet, the fork faucetconfrpc depends on)
  # otherwise copies its *sample* faucet.yaml/gauge.yaml (with example DPs and routers) into
  # /etc/faucet when built as root, which would then be taken for the operator's config.
  DEBINSTALL=1 "${venv}/bin/pip" install -q --disable-pip-version-check "${package}==${version}"
  [[ "$(venv_package_version "${venv}" "${package}")" == "${version}" ]] || die "${tag}: install failed"
  log "${tag}: ${package} ${version} installed in $((SECONDS - start))s"
  VENV_INSTALLED=1
  changed "${tag}-package"
}

# deploy/faucet/dovesnap_faucet_sighup.py: FAUCET's and Gauge's SIGHUP handler made non-blocking
# (a SIGHUP during a storm of port events otherwise hangs FAUCET for good). Installed into the
# venv's site-packages; both are started with it in their app list (start_faucet, start_gauge).
SIGHUP_FIX_MODULE=dovesnap_faucet_sighup

ensure_sighup_fix() {
  local src="${REPO_ROOT}/deploy/faucet/${SIGHUP_FIX_MODULE}.py" dir
  dir="$("${DOVESNAP_VENV}/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" ||
    die "faucet: cannot find the venv's site-packages"
  if cmp -s "${src}" "${dir}/${SIGHUP_FIX_MODULE}.py"; then
    return 0
  fi
  log "faucet: installing ${SIGHUP_FIX_MODULE} (non-blocking SIGHUP handler) into ${dir}"
  install -m 0644 "${src}" "${dir}/${SIGHUP_FIX_MODULE}.py"
  FAUCET_CHANGED=1
  changed "faucet-sighup-fix"
}

# A faucet.yaml byte-identical to the sample that faucet's own installer drops into /etc/faucet
# is nobody's configuration: set such samples aside (renamed, not deleted).
set_aside_pip_samples() {
  local sample_dir="${DOVESNAP_VENV}/etc/faucet" name
  [[ -f "${sample_dir}/faucet.yaml" && -f "${FAUCET_CONF_DIR}/faucet.yaml" ]] || return 0
  cmp -s "${sample_dir}/faucet.yaml" "${FAUCET_CONF_DIR}/faucet.yaml" || return 0
  for name in faucet.yaml gauge.yaml acls.yaml; do
    if [[ -f "${FAUCET_CONF_DIR}/${name}" ]] && cmp -s "${sample_dir}/${name}" "${FAUCET_CONF_DIR}/${name}"; then
      log "faucet: ${FAUCET_CONF_DIR}/${name} is faucet's unedited sample; renaming it to ${name}.faucet-sample"
      mv -f "${FAUCET_CONF_DIR}/${name}" "${FAUCET_CONF_DIR}/${name}.faucet-sample"
    fi
  done
  changed "faucet-config"
}

ensure_faucet_config() {
  mkdir -p "${FAUCET_CONF_DIR}"
  set_aside_pip_samples
  if [[ -f "${FAUCET_CONF_DIR}/faucet.yaml" && -f "${FAUCET_CONF_DIR}/gauge.yaml" ]]; then
    log "faucet: config present in ${FAUCET_CONF_DIR} (kept as it is)"
    return 0
  fi
  # One source for the placeholder DP and the Gauge watchers: the CLI (src/faucet/), built by
  # the build step before this one.
  log "faucet: writing missing faucet.yaml/gauge.yaml: dovesnap setup-config"
  FAUCET_PREFIX="${FAUCET_PREFIX}" dovesnap_cli setup-config ||
    die "faucet: 'dovesnap setup-config' failed"
  [[ -f "${FAUCET_CONF_DIR}/faucet.yaml" && -f "${FAUCET_CONF_DIR}/gauge.yaml" ]] ||
    die "faucet: ${FAUCET_CONF_DIR}/faucet.yaml or gauge.yaml still missing after setup-config"
  changed "faucet-config"
}

# FAUCET_LOG/GAUGE_LOG get the controllers' own logs; the processes' stdout/stderr (os-ken's
# access line for every /metrics scrape, start-up warnings, tracebacks) go to *.stdout.log so
# that the scrapes do not drown the real log.
controller_env() {
  printf '%s\n' "PATH=${DOVESNAP_VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin" "HOME=/root" "LANG=C.UTF-8"
}

start_faucet() {
  local env=()
  mapfile -t env < <(controller_env)
  env+=("FAUCET_CONFIG=${FAUCET_CONF_DIR}/faucet.yaml"
    "FAUCET_LOG=${DOVESNAP_LOG_DIR}/faucet.log"
    "FAUCET_EXCEPTION_LOG=${DOVESNAP_LOG_DIR}/faucet_exception.log"
    "FAUCET_PROMETHEUS_PORT=${FAUCET_PROM_PORT}"
    "$(controller_pinned_env faucet)"
    "FAUCET_CONFIG_STAT_RELOAD=1")
  # faucet is a thin wrapper that execs os-ken's `osken-manager` (found on PATH, hence the venv
  # first in PATH); its os-ken options carry a --ryu- prefix.
  start_detached "${FAUCET_PIDFILE}" "${DOVESNAP_LOG_DIR}/faucet.stdout.log" \
    env -i "${env[@]}" "${DOVESNAP_VENV}/bin/faucet" "--ryu-ofp-tcp-listen-port=${FAUCET_OF_PORT}" \
    "--ryu-app-lists=${SIGHUP_FIX_MODULE}" ||
    die "faucet: could not launch"
}

start_gauge() {
  local env=()
  mapfile -t env < <(controller_env)
  env+=("GAUGE_CONFIG=${FAUCET_CONF_DIR}/gauge.yaml"
    "GAUGE_LOG=${DOVESNAP_LOG_DIR}/gauge.log"
    "GAUGE_EXCEPTION_LOG=${DOVESNAP_LOG_DIR}/gauge_exception.log"
    "$(controller_pinned_env gauge)"
    "GAUGE_CONFIG_STAT_RELOAD=1")
  start_detached "${GAUGE_PIDFILE}" "${DOVESNAP_LOG_DIR}/gauge.stdout.log" \
    env -i "${env[@]}" "${DOVESNAP_VENV}/bin/gauge" "--ryu-ofp-tcp-listen-port=${GAUGE_OF_PORT}" \
    "--ryu-app-lists=${SIGHUP_FIX_MODULE}" ||
    die "gauge: could not launch"
}

# controller_pinned_env NAME: the part of a controller's environment that a running one must
# have been started with (else it is restarted): where its Prometheus exporter listens, which
# for FAUCET depends on CONFRPC (scripts/confrpc.sh, faucet_prometheus_addr).
controller_pinned_env() {
  case "$1" in
    faucet) printf 'FAUCET_PROMETHEUS_ADDR=%s\n' "$(faucet_prometheus_addr)" ;;
    gauge) printf 'GAUGE_PROMETHEUS_ADDR=127.0.0.1\n' ;;
  esac
}

# env_has PID VAR=VALUE: the process was started with exactly that in its environment.
env_has() {
  tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF "$2"
}

# ensure_controller NAME PIDFILE MATCH OFPORT: running -> keep (or restart when the faucet
# package or its pinned environment changed); an untracked instance on OFPORT -> adopt it;
# anything else on OFPORT -> fail.
ensure_controller() {
  local name="$1" pidfile="$2" match="$3" port="$4" pid reason
  if unit_active "dovesnap-${name}.service"; then
    if [[ "${FAUCET_CHANGED}" -eq 1 ]]; then
      log "${name}: systemctl restart dovesnap-${name}.service (faucet package changed)"
      systemctl restart "dovesnap-${name}.service"
      changed "${name}"
    else
      log "${name}: running under systemd (dovesnap-${name}.service)"
    fi
    return 0
  fi
  if pid="$(pidfile_pid "${pidfile}" "${match}")"; then
    if [[ "${FAUCET_CHANGED}" -eq 1 ]]; then
      reason="faucet package or ${SIGHUP_FIX_MODULE} changed"
    elif [[ "$(cmdline_of "${pid}")" != *"${SIGHUP_FIX_MODULE}"* ]]; then
      reason="started without ${SIGHUP_FIX_MODULE}"
    elif ! env_has "${pid}" "$(controller_pinned_env "${name}")"; then
      reason="not started with $(controller_pinned_env "${name}")"
    else
      log "${name}: running (pid ${pid})"
      return 0
    fi
    log "${name}: restarting (${reason})"
    stop_pidfile "${name}" "${pidfile}" "${match}" 15
  else
    pid="$(listener_pid "${port}")"
    if [[ -n "${pid}" ]]; then
      if [[ "$(cmdline_of "${pid}")" == *"${match}"* ]]; then
        log "${name}: adopting running instance pid ${pid} (listening on ${port}, no pidfile)"
        printf '%s\n' "${pid}" >"${pidfile}"
        return 0
      fi
      die "${name}: TCP port ${port} is taken by pid ${pid}: $(cmdline_of "${pid}")"
    fi
  fi
  log "${name}: starting (log ${DOVESNAP_LOG_DIR}/${name}.log)"
  "start_${name}"
  changed "${name}"
}

# faucet_health: FAUCET's state as the daemon reads it (`dovesnap faucet health`): exit status 0
# ok, 4 a configuration load error (FAUCET runs its last good one), 3 unreachable.
faucet_health() {
  dovesnap_cli faucet health --metrics "${FAUCET_METRICS_URL}"
}

# Keeps the last answer in FAUCET_HEALTH (wait_until runs it in this shell), so that
# wait_faucet_ready need not ask again.
FAUCET_HEALTH=3
faucet_metrics_ready() {
  pidfile_alive "${FAUCET_PIDFILE}" || return 3
  FAUCET_HEALTH=0
  faucet_health >/dev/null 2>&1 || FAUCET_HEALTH=$?
  [[ "${FAUCET_HEALTH}" -eq 0 || "${FAUCET_HEALTH}" -eq 4 ]]
}

wait_faucet_ready() {
  if ! wait_until 60 "FAUCET metrics on :${FAUCET_PROM_PORT}" faucet_metrics_ready; then
    log_tail "${DOVESNAP_LOG_DIR}/faucet.log"
    log_tail "${DOVESNAP_LOG_DIR}/faucet.stdout.log"
    die "faucet: no FAUCET metrics at ${FAUCET_METRICS_URL} ($(faucet_health 2>&1))"
  fi
  if [[ "${FAUCET_HEALTH}" -eq 4 ]]; then
    # FAUCET keeps running on its last good configuration. The plugin daemon, started below,
    # re-renders its own DPs into the file; what it cannot mend is the operator's to fix.
    log_tail "${DOVESNAP_LOG_DIR}/faucet.log"
    warn "faucet: FAUCET rejects ${FAUCET_CONF_DIR}/faucet.yaml (faucet_config_load_error 1); it keeps its last good configuration. dovesnap re-renders its DPs when it starts; if the error stays, fix the file (see ${DOVESNAP_LOG_DIR}/faucet.log)"
    return 0
  fi
  log "faucet: metrics answering, config loaded"
}

gauge_metrics_ready() {
  pidfile_alive "${GAUGE_PIDFILE}" || return 3
  http_ok "http://127.0.0.1:${GAUGE_PROM_PORT}/metrics"
}

# Gauge serves Prometheus only if gauge.yaml has a prometheus db that a watcher uses, so a
# silent metrics port is a warning; Gauge exiting is an error.
wait_gauge_ready() {
  if wait_until 20 "Gauge metrics on :${GAUGE_PROM_PORT}" gauge_metrics_ready; then
    log "gauge: metrics answering"
    return 0
  fi
  if ! pidfile_alive "${GAUGE_PIDFILE}"; then
    log_tail "${DOVESNAP_LOG_DIR}/gauge.log"
    log_tail "${DOVESNAP_LOG_DIR}/gauge.stdout.log"
    die "gauge: exited during start-up"
  fi
  warn "gauge: running, but http://127.0.0.1:${GAUGE_PROM_PORT}/metrics does not answer (check the prometheus db in ${FAUCET_CONF_DIR}/gauge.yaml)"
}

# A FAUCET that answers its metrics but no longer handles events would be left alone by a pidfile
# check. `dovesnap faucet reload` asks it to reload and says whether it did (exit 0), is busy and
# slow (4: left alone) or idle and hung (3: restarted here); src/faucet/health.ts says why.
ensure_faucet_responsive() {
  local out rc=0
  pidfile_pid "${FAUCET_PIDFILE}" "${FAUCET_MATCH}" >/dev/null || return 0
  out="$(dovesnap_cli faucet reload --metrics "${FAUCET_METRICS_URL}" --pidfile "${FAUCET_PIDFILE}" --timeout 15 2>&1)" ||
    rc=$?
  case "${rc}" in
    0) return 0 ;;
    4) warn "faucet: ${out#busy: }; left alone" ;;
    3)
      warn "faucet: ${out#hung: }; restarting it"
      stop_pidfile faucet "${FAUCET_PIDFILE}" "${FAUCET_MATCH}" 15
      start_faucet
      changed "faucet (was unresponsive)"
      ;;
    *) warn "faucet: could not ask FAUCET to reload: ${out}" ;;
  esac
}

ensure_faucet_and_gauge() {
  ensure_venv faucet "${DOVESNAP_VENV}" faucet "${FAUCET_VERSION}"
  [[ "${VENV_INSTALLED}" -eq 0 ]] || FAUCET_CHANGED=1
  ensure_sighup_fix
  ensure_faucet_config
  ensure_controller faucet "${FAUCET_PIDFILE}" "${FAUCET_MATCH}" "${FAUCET_OF_PORT}"
  wait_faucet_ready
  ensure_faucet_responsive
  wait_faucet_ready
  ensure_controller gauge "${GAUGE_PIDFILE}" "${GAUGE_MATCH}" "${GAUGE_OF_PORT}"
  wait_gauge_ready
}

# ---------------------------------------------------------------- 6. install the app
# Each build is installed once into /opt/dovesnap/releases/<id>; /opt/dovesnap/app is a
# symlink switched with one rename, so a running daemon never sees a half-copied tree.
# The release carries the scripts the app runs itself: `dovesnap lab image build host` runs
# build-test-image.sh --tar (which sources lib.sh).
RELEASE_SCRIPTS=(scripts/build-test-image.sh scripts/lib.sh)

release_id() {
  (cd "${REPO_ROOT}" && hash_tree package.json package-lock.json dist/src web "${RELEASE_SCRIPTS[@]}") | cut -c1-16
}

build_release() {
  local dir="$1" tmp="$1.tmp"
  rm -rf "${tmp}"
  mkdir -p "${tmp}/dist"
  cp -p "${REPO_ROOT}/package.json" "${REPO_ROOT}/package-lock.json" "${tmp}/"
  cp -a "${REPO_ROOT}/dist/src" "${tmp}/dist/src"
  cp -a "${REPO_ROOT}/web" "${tmp}/web"   # the live view's page (src/status/server.ts)
  mkdir -p "${tmp}/scripts"
  cp -p "${RELEASE_SCRIPTS[@]/#/${REPO_ROOT}/}" "${tmp}/scripts/"
  (cd "${tmp}" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline \
    --loglevel=error) || die "app: npm ci --omit=dev failed in ${tmp}"
  touch "${tmp}/.complete"
  mv -T "${tmp}" "${dir}"
}

switch_app_link() {
  local target="$1"
  if [[ -d "${DOVESNAP_APP}" && ! -L "${DOVESNAP_APP}" ]]; then
    mv -T "${DOVESNAP_APP}" "${DOVESNAP_APP}.old-dir"   # a plain directory from an older layout
  fi
  ln -sfn "${target}" "${DOVESNAP_APP}.link-tmp"
  mv -Tf "${DOVESNAP_APP}.link-tmp" "${DOVESNAP_APP}"
  rm -rf "${DOVESNAP_APP}.old-dir"
}

# Keep the current release and the one before it; remove the rest.
prune_releases() {
  local keep_cur="$1" keep_prev="$2" dir
  for dir in "${DOVESNAP_RELEASES}"/*; do
    [[ -e "${dir}" ]] || continue
    [[ "${dir}" == "${keep_cur}" || "${dir}" == "${keep_prev}" ]] && continue
    rm -rf "${dir}"
  done
}

# write_if_changed FILE CONTENT: an executable script, replaced atomically when it differs.
write_if_changed() {
  local file="$1" want="$2"
  [[ "$(cat "${file}" 2>/dev/null)" == "${want}" ]] && return 1
  printf '%s\n' "${want}" >"${file}.tmp"
  chmod 755 "${file}.tmp"
  mv -f "${file}.tmp" "${file}"
  log "app: installed ${file}"
}

install_wrapper() {
  local cli="node ${DOVESNAP_NODE_FLAGS} ${DOVESNAP_APP}/dist/src/cli/main.js"
  if write_if_changed "${DOVESNAP_WRAPPER}" "$(printf '#!/bin/sh\nexec %s "$@"\n' "${cli}")"; then changed "wrapper"; fi
  # pipework's name for dovesnap attach: the commands of pipework's users work unchanged.
  if write_if_changed "${PIPEWORK_WRAPPER}" "$(printf '#!/bin/sh\nexec %s attach "$@"\n' "${cli}")"; then changed "pipework wrapper"; fi
}

install_app() {
  local id dir prev=""
  if [[ ! -d "${REPO_ROOT}/dist/src" ]]; then
    warn "app: ${REPO_ROOT}/dist/src does not exist (nothing built): not installing"
    return 0
  fi
  id="$(release_id)"
  dir="${DOVESNAP_RELEASES}/${id}"
  [[ -L "${DOVESNAP_APP}" ]] && prev="$(readlink "${DOVESNAP_APP}")"
  if [[ "${prev}" == "${dir}" && -f "${dir}/.complete" ]]; then
    log "app: ${DOVESNAP_APP} -> ${dir} is current"
  else
    log "app: installing release ${id} into ${dir}"
    mkdir -p "${DOVESNAP_RELEASES}"
    [[ -f "${dir}/.complete" ]] || { rm -rf "${dir}"; build_release "${dir}"; }
    switch_app_link "${dir}"
    APP_CHANGED=1
    changed "app"
  fi
  prune_releases "${dir}" "${prev}"
  install_wrapper
}

# ---------------------------------------------------------------- 7. the plugin daemon
# The daemon's environment (`dovesnap settings --env`: make up's defaults, then the caller's
# MIRROR_BRIDGE_*, STACK*, FAUCET_PREFIX and DOVESNAP_*, which win), one per line, sorted, so that
# a change can be detected. Read once, by ensure_daemon, so that a failure stops make up.
DAEMON_ENV=()
load_daemon_env() {
  local out
  out="$(dovesnap_cli settings --env)" || die "dovesnap: 'dovesnap settings --env' failed"
  mapfile -t DAEMON_ENV <<<"${out}"
}

# What the running daemon was started with: its environment and the release it runs.
daemon_state() {
  printf '%s\n' "${DAEMON_ENV[@]}"
  printf '# release=%s\n' "$(readlink "${DOVESNAP_APP}" 2>/dev/null || true)"
}

daemon_ready() {
  unit_active dovesnap.service || pidfile_alive "${DAEMON_PIDFILE}" || return 3
  [[ -S "${DOVESNAP_PLUGIN_SOCK}" ]] && http_ok "http://${DOVESNAP_STATUS_ADDR}/healthz"
}

start_daemon() {
  # No daemon runs (checked by the caller), so a socket file left behind is stale.
  rm -f "${DOVESNAP_PLUGIN_SOCK}"
  log "dovesnap: starting the plugin daemon (log ${DOVESNAP_LOG_DIR}/dovesnap.log)"
  # shellcheck disable=SC2086 # DOVESNAP_NODE_FLAGS is a list of flags
  start_detached "${DAEMON_PIDFILE}" "${DOVESNAP_LOG_DIR}/dovesnap.log" \
    env -i "${DAEMON_ENV[@]}" node ${DOVESNAP_NODE_FLAGS} "${DOVESNAP_APP}/dist/src/cli/main.js" daemon ||
    die "dovesnap: could not launch the daemon"
  daemon_state >"${DOVESNAP_RUN_DIR}/dovesnap.state"
  if ! wait_until 30 "healthz at ${DOVESNAP_STATUS_ADDR} and ${DOVESNAP_PLUGIN_SOCK}" daemon_ready; then
    log_tail "${DOVESNAP_LOG_DIR}/dovesnap.log" 40
    die "dovesnap: daemon not healthy within 30s (http://${DOVESNAP_STATUS_ADDR}/healthz, ${DOVESNAP_PLUGIN_SOCK})"
  fi
  log "dovesnap: healthy (pid $(cat "${DAEMON_PIDFILE}"))"
  changed "dovesnap-daemon"
}

# socket_live: something accepts connections on the plugin socket right now.
socket_live() {
  [[ -S "${DOVESNAP_PLUGIN_SOCK}" ]] &&
    curl -s -o /dev/null --max-time 3 --unix-socket "${DOVESNAP_PLUGIN_SOCK}" \
      -X POST http://localhost/Plugin.Activate
}

# A daemon serving the socket without our pidfile: adopt it if it runs the installed app,
# refuse otherwise (e.g. a developer's daemon run from a work tree), except in CI (below).
# Returns 0 when adopted, 1 when there is none (any more).
adopt_or_refuse_socket_owner() {
  local pid
  socket_live || return 1
  pid="$({ ss -Hxlp src "${DOVESNAP_PLUGIN_SOCK}" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2; } || true)"
  if [[ -n "${pid}" && "$(cmdline_of "${pid}")" == *"${DOVESNAP_APP}/${DAEMON_MATCH}"* ]]; then
    log "dovesnap: adopting running daemon pid ${pid} (it serves ${DOVESNAP_PLUGIN_SOCK}, no pidfile)"
    printf '%s\n' "${pid}" >"${DAEMON_PIDFILE}"
    return 0
  fi
  if [[ "${CI:-}" == true && -n "${pid}" ]]; then
    # In CI the daemon under test must be this checkout's: one left over from a developer's
    # session would shadow it. Stop exactly that pid (SIGTERM, then SIGKILL).
    log "dovesnap: CI: stopping pid ${pid} ($(cmdline_of "${pid}")), which serves ${DOVESNAP_PLUGIN_SOCK} but was not started by make up"
    printf '%s\n' "${pid}" >"${DAEMON_PIDFILE}.foreign"
    stop_pidfile "foreign dovesnap daemon" "${DAEMON_PIDFILE}.foreign" "" 30
    return 1
  fi
  die "dovesnap: ${DOVESNAP_PLUGIN_SOCK} is served by a daemon make up did not start (pid ${pid:-?}: $(cmdline_of "${pid:-0}")); stop it first, or use make up SKIP_DAEMON=1"
}

# Why a running daemon must be restarted (empty: it need not be).
daemon_restart_reason() {
  local state="${DOVESNAP_RUN_DIR}/dovesnap.state"
  if [[ "${APP_CHANGED}" -eq 1 ]]; then
    echo "the installed app changed"
  elif [[ ! -f "${state}" ]]; then
    echo "there is no record of how it was started"
  elif ! grep -qxF "$(daemon_state | tail -n1)" "${state}"; then
    echo "it runs an older release"
  elif ! cmp -s <(daemon_state) "${state}"; then
    echo "its environment changed"
  fi
}

ensure_daemon_systemd() {
  if [[ "${APP_CHANGED}" -eq 1 ]]; then
    log "dovesnap: systemctl restart dovesnap.service (the installed app changed)"
    systemctl restart dovesnap.service
    changed "dovesnap-daemon"
  else
    log "dovesnap: running under systemd (dovesnap.service; settings in /etc/default/dovesnap)"
  fi
  wait_until 30 "dovesnap healthz" daemon_ready || die "dovesnap: dovesnap.service not healthy (journalctl -u dovesnap)"
}

ensure_daemon() {
  local pid reason=""
  if [[ ! -f "${DOVESNAP_APP}/dist/src/cli/main.js" ]]; then
    DAEMON_NOTE="not started: ${DOVESNAP_APP}/dist/src/cli/main.js does not exist yet"
    warn "dovesnap: ${DAEMON_NOTE}"
    return 0
  fi
  if [[ "${SKIP_DAEMON:-0}" == 1 ]]; then
    DAEMON_NOTE="not managed in this run (SKIP_DAEMON=1)"
    log "dovesnap: ${DAEMON_NOTE}"
    return 0
  fi
  if unit_active dovesnap.service; then
    ensure_daemon_systemd
    return 0
  fi
  load_daemon_env
  pid="$(pidfile_pid "${DAEMON_PIDFILE}" "${DAEMON_MATCH}")" ||
    { adopt_or_refuse_socket_owner && pid="$(cat "${DAEMON_PIDFILE}")"; } || pid=""
  if [[ -n "${pid}" ]]; then
    reason="$(daemon_restart_reason)"
    if [[ -z "${reason}" ]]; then
      log "dovesnap: running (pid ${pid})"
      daemon_ready || warn "dovesnap: running but not healthy (healthz or ${DOVESNAP_PLUGIN_SOCK})"
      return 0
    fi
    log "dovesnap: restarting (${reason})"
    stop_pidfile dovesnap "${DAEMON_PIDFILE}" "${DAEMON_MATCH}" 30
  fi
  start_daemon
}

# ---------------------------------------------------------------- 8. the example image
# The README's quick start runs containers from this small local image (no registry here).
ensure_image() {
  local out
  out="$("${REPO_ROOT}/scripts/build-test-image.sh" 2>&1)" || { printf '%s\n' "${out}" >&2; die "image: build-test-image.sh failed"; }
  printf '%s\n' "${out}"
  grep -q 'built ' <<<"${out}" && changed "image"
  return 0
}

# ---------------------------------------------------------------- main
main() {
  require_root up
  mkdir -p "${DOVESNAP_LOG_DIR}" "${DOVESNAP_RUN_DIR}" "${DOVESNAP_OPT}"
  take_lock
  confrpc_resolve

  ensure_packages
  ensure_build
  ensure_ovs
  ensure_faucet_and_gauge
  ensure_confrpc
  install_app
  ensure_daemon
  # Docker after the plugin, as the systemd units order it (Before=docker.service): a starting
  # dockerd restarts its restart-policy containers at once, and gives up on those whose network
  # plugin is not listening yet (after a reboot they would stay down). The daemon needs no Docker
  # to start, and connects to its API when it answers.
  ensure_docker
  ensure_prometheus
  ensure_image

  echo
  "${REPO_ROOT}/scripts/status.sh" || true
  [[ -n "${DAEMON_NOTE}" ]] && log "NOTE: dovesnap daemon ${DAEMON_NOTE}"
  if [[ ${#CHANGES[@]} -eq 0 ]]; then
    log "nothing changed: everything was already installed and running"
  else
    log "changed: ${CHANGES[*]}"
  fi
}

main "$@"
