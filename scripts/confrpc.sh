# shellcheck shell=bash
# faucetconfrpc for `make up CONFRPC=1`: sourced by up.sh, down.sh, status.sh and
# install-systemd.sh after lib.sh (never run). The server (PyPI faucetconfrpc ${CONFRPC_VERSION}
# in ${CONFRPC_VENV}) lets dovesnap on other hosts write this host's FAUCET configuration over
# gRPC with mutual TLS; it listens on CONFRPC_HOST:${CONFRPC_PORT} (metrics :${CONFRPC_PROM_PORT}),
# serves FAUCET's configuration directory, and uses the keys in FAUCETCONFRPC_KEYDIR, made by
# `dovesnap confrpc keys` when they are missing. See README, "FAUCET on another host".
#
# CONFRPC=1 runs it, CONFRPC=0 stops it and forgets it; without CONFRPC a make up keeps what an
# earlier CONFRPC=1 started (its state file), so that an upgrade or a `make test` does not cut
# the other hosts off. Without systemd it is started like FAUCET (pidfile, log in
# ${DOVESNAP_LOG_DIR}); on a host where `make install-systemd CONFRPC=1` installed
# dovesnap-faucetconfrpc.service, that unit runs it.

CONFRPC_STATE="${DOVESNAP_RUN_DIR}/faucetconfrpc.state"
CONFRPC_UNIT=dovesnap-faucetconfrpc.service
# Read by the unit, and by dovesnap-faucet.service through its drop-in (FAUCET's metrics address).
CONFRPC_DEFAULTS_FILE=/etc/default/dovesnap-faucetconfrpc
CONFRPC_FAUCET_DROPIN=/etc/systemd/system/dovesnap-faucet.service.d/faucetconfrpc.conf
CONFRPC_ON=0

# The address the server make up started last was given (its state file); empty if none.
confrpc_recorded_host() {
  [[ -r "${CONFRPC_STATE}" ]] || return 0
  sed -n 's/^--host=\[\{0,1\}\([^]]*\)\]\{0,1\}$/\1/p' "${CONFRPC_STATE}" 2>/dev/null | head -n 1
}

# CONFRPC_HOST as gRPC's HOST:PORT wants it: an IPv6 address in brackets.
confrpc_grpc_host() {
  if [[ "${CONFRPC_HOST}" == *:* ]]; then echo "[${CONFRPC_HOST}]"; else echo "${CONFRPC_HOST}"; fi
}

# Sets CONFRPC_ON (1: this run wants the server) and CONFRPC_HOST (default: the recorded one,
# else 127.0.0.1). Called once, before FAUCET is started (its metrics address depends on it).
confrpc_resolve() {
  local recorded
  recorded="$(confrpc_recorded_host)"
  case "${CONFRPC:-}" in
    1) CONFRPC_ON=1 ;;
    0) CONFRPC_ON=0 ;;
    '') [[ -z "${recorded}" ]] || CONFRPC_ON=1 ;;
    *) die "CONFRPC=${CONFRPC}: expected 1 (run the faucetconfrpc server), 0 (stop it) or nothing (keep what runs)" ;;
  esac
  : "${CONFRPC_HOST:=${recorded:-127.0.0.1}}"
  [[ "${CONFRPC_ON}" -eq 1 ]] || return 0
  if [[ ! "${CONFRPC_HOST}" =~ ^[A-Za-z0-9.:-]+$ ]]; then
    die "CONFRPC_HOST=${CONFRPC_HOST}: expected an IP address or a DNS name of this host"
  fi
  case "${CONFRPC_HOST}" in
    0.0.0.0 | :: | 0:0:0:0:0:0:0:0)
      die "CONFRPC_HOST=${CONFRPC_HOST}: give the address the other hosts dial (their TLS checks the server's certificate against it), not a wildcard"
      ;;
  esac
}

confrpc_host_is_loopback() {
  [[ "${CONFRPC_HOST}" == localhost || "${CONFRPC_HOST}" == 127.* || "${CONFRPC_HOST}" == ::1 ]]
}

# Where FAUCET's Prometheus exporter listens. 127.0.0.1 unless other hosts must read it (the
# server runs on an address that is not loopback): then the wildcard, because FAUCET's exporter
# binds one address, and this host's readers (the daemon, make up, make status, Prometheus, the
# tests) keep using 127.0.0.1:9302 while the other hosts' daemons read CONFRPC_HOST:9302.
faucet_prometheus_addr() {
  if [[ "${CONFRPC_ON}" -ne 1 ]] || confrpc_host_is_loopback; then
    echo 127.0.0.1
  elif [[ "${CONFRPC_HOST}" == *:* ]]; then
    echo '::'
  else
    echo 0.0.0.0
  fi
}

confrpc_server_files() {
  printf '%s\n' "${FAUCETCONFRPC_KEYDIR}/${CONFRPC_HOST}.key" "${FAUCETCONFRPC_KEYDIR}/${CONFRPC_HOST}.crt" \
    "${FAUCETCONFRPC_KEYDIR}/${CONFRPC_HOST}-ca.crt"
}

# The server's command line after the program, one argument a line. A change restarts it.
confrpc_args() {
  local files=()
  mapfile -t files < <(confrpc_server_files)
  printf '%s\n' "--config_dir=${FAUCET_CONF_DIR}" "--default_config=faucet.yaml" \
    "--key=${files[0]}" "--cert=${files[1]}" "--cacert=${files[2]}" \
    "--host=$(confrpc_grpc_host)" "--port=${CONFRPC_PORT}" "--prom_port=${CONFRPC_PROM_PORT}"
}

# confrpc_client RPC [ARG=VALUE...]: the package's own client, with make up's client certificate.
# It prints the reply, or "None" (exit status 0) when the call failed.
confrpc_client() {
  local dir="${FAUCETCONFRPC_KEYDIR}"
  timeout 30 env -i PATH=/usr/bin:/bin LANG=C.UTF-8 "${CONFRPC_VENV}/bin/faucetconfrpc_client" \
    --key="${dir}/${CONFRPC_DEFAULT_CLIENT}.key" --cert="${dir}/${CONFRPC_DEFAULT_CLIENT}.crt" \
    --cacert="${dir}/${CONFRPC_HOST}-ca.crt" --host="$(confrpc_grpc_host)" --port="${CONFRPC_PORT}" "$@"
}

confrpc_have_client_keys() {
  [[ -r "${FAUCETCONFRPC_KEYDIR}/${CONFRPC_DEFAULT_CLIENT}.key" && -r "${FAUCETCONFRPC_KEYDIR}/${CONFRPC_DEFAULT_CLIENT}.crt" ]]
}

# The server answers a client over mutual TLS (with make up's client certificate; without one,
# that it listens). Exit status 3 when its process is gone (wait_until stops waiting).
confrpc_ready() {
  if ! unit_active "${CONFRPC_UNIT}"; then pidfile_alive "${CONFRPC_PIDFILE}" || return 3; fi
  if confrpc_have_client_keys; then
    local out
    out="$(confrpc_client get_dp_names 2>/dev/null)" || return 1
    [[ "${out}" != None ]]
  else
    [[ -n "$(listener_pid "${CONFRPC_PORT}")" ]]
  fi
}

# ---------------------------------------------------------------- up.sh (needs its ensure_venv, changed)
confrpc_state() {
  confrpc_args
  printf '# package=%s\n' "$(venv_package_version "${CONFRPC_VENV}" faucetconfrpc)"
  # New keys (dovesnap confrpc keys --force) need a restart to be served.
  printf '# keys=%s\n' "$(mapfile -t f < <(confrpc_server_files) && hash_tree "${f[@]}")"
}

ensure_confrpc_keys() {
  local dir="${FAUCETCONFRPC_KEYDIR}" name missing=() force=()
  local ca="${dir}/${CONFRPC_HOST}-ca.crt" client="${dir}/${CONFRPC_DEFAULT_CLIENT}.crt"
  for name in "${CONFRPC_HOST}-ca.crt" "${CONFRPC_HOST}.crt" "${CONFRPC_HOST}.key" \
    "${CONFRPC_DEFAULT_CLIENT}.crt" "${CONFRPC_DEFAULT_CLIENT}.key"; do
    [[ -e "${dir}/${name}" ]] || missing+=("${name}")
  done
  # The client pair is one for all addresses: after a change of CONFRPC_HOST it was signed by the
  # CA of the address before, and is made anew (--force) with this address's CA.
  if [[ -e "${client}" ]] && { [[ ! -e "${ca}" ]] || ! openssl verify -CAfile "${ca}" "${client}" >/dev/null 2>&1; }; then
    force=(--force)
    missing+=("${CONFRPC_DEFAULT_CLIENT}.crt signed by the CA of ${CONFRPC_HOST}")
  fi
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "faucetconfrpc: keys for ${CONFRPC_HOST} in ${dir} (kept)"
    return 0
  fi
  log "faucetconfrpc: missing ${missing[*]}: dovesnap confrpc keys --dir ${dir} --server ${CONFRPC_HOST} --client ${CONFRPC_DEFAULT_CLIENT} ${force[*]}"
  dovesnap_cli confrpc keys --dir "${dir}" --server "${CONFRPC_HOST}" --client "${CONFRPC_DEFAULT_CLIENT}" "${force[@]}" ||
    die "faucetconfrpc: 'dovesnap confrpc keys' failed (above)"
  changed "faucetconfrpc-keys"
}

start_confrpc() {
  log "faucetconfrpc: starting on ${CONFRPC_HOST}:${CONFRPC_PORT}"
  # Started in the configuration directory: the server looks for --default_config relative to
  # its working directory before it changes into --config_dir (and would create one there).
  start_recorded faucetconfrpc "${CONFRPC_PIDFILE}" "${DOVESNAP_LOG_DIR}/faucetconfrpc.log" "${CONFRPC_STATE}" \
    confrpc_state confrpc_args env -i -C "${FAUCET_CONF_DIR}" "PATH=${CONFRPC_VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    HOME=/root LANG=C.UTF-8 PYTHONUNBUFFERED=1 "${CONFRPC_VENV}/bin/faucetconfrpc_server"
  changed "faucetconfrpc"
}

# Without systemd: keep a running server whose command line, package and keys are current,
# restart it otherwise, adopt an untracked one of ours, refuse a stranger on the port.
ensure_confrpc_process() {
  local pid
  pid="$(tracked_pid faucetconfrpc "${CONFRPC_PIDFILE}" "${CONFRPC_MATCH}" "${CONFRPC_PORT}")"
  if [[ -n "${pid}" ]]; then
    if cmp -s <(confrpc_state) "${CONFRPC_STATE}"; then
      log "faucetconfrpc: running (pid ${pid})"
      return 0
    fi
    log "faucetconfrpc: restarting (its command line, package or keys changed)"
    stop_pidfile faucetconfrpc "${CONFRPC_PIDFILE}" "${CONFRPC_MATCH}" 15
  fi
  start_confrpc
}

ensure_confrpc_systemd() {
  if [[ "${CONFRPC_PACKAGE_CHANGED}" -eq 1 ]] && unit_active "${CONFRPC_UNIT}"; then
    log "faucetconfrpc: systemctl restart ${CONFRPC_UNIT} (faucetconfrpc package changed)"
    systemctl restart "${CONFRPC_UNIT}"
    changed "faucetconfrpc"
  elif ! unit_active "${CONFRPC_UNIT}"; then
    log "faucetconfrpc: systemctl start ${CONFRPC_UNIT}"
    systemctl start "${CONFRPC_UNIT}"
    changed "faucetconfrpc"
  else
    log "faucetconfrpc: running under systemd (${CONFRPC_UNIT}; settings in ${CONFRPC_DEFAULTS_FILE})"
  fi
}

CONFRPC_PACKAGE_CHANGED=0

# up.sh's step after FAUCET: the server when this run wants it, else stop the one make up ran
# (CONFRPC=0 only; without CONFRPC, nothing is recorded and nothing runs).
ensure_confrpc() {
  if [[ "${CONFRPC_ON}" -ne 1 ]]; then
    if [[ -e "${CONFRPC_STATE}" || -e "${CONFRPC_PIDFILE}" ]]; then
      log "faucetconfrpc: CONFRPC=0: stopping the server make up started"
      stop_confrpc
      rm -f "${CONFRPC_STATE}"
      changed "faucetconfrpc (stopped)"
    fi
    # A host whose dovesnap writes another host's FAUCET configuration needs the package too:
    # its service definition (faucetconfrpc.proto) is what the daemon's gRPC client loads.
    if [[ -n "${FAUCETCONFRPC_ADDR:-}" && -z "${DOVESNAP_CONFRPC_PROTO:-}" ]]; then
      ensure_venv faucetconfrpc "${CONFRPC_VENV}" faucetconfrpc "${CONFRPC_VERSION}"
    fi
    return 0
  fi
  ensure_venv faucetconfrpc "${CONFRPC_VENV}" faucetconfrpc "${CONFRPC_VERSION}"
  CONFRPC_PACKAGE_CHANGED="${VENV_INSTALLED}"
  ensure_confrpc_keys
  if unit_known "${CONFRPC_UNIT}"; then
    ensure_confrpc_systemd
  else
    ensure_confrpc_process
  fi
  if ! wait_until 60 "faucetconfrpc answering on ${CONFRPC_HOST}:${CONFRPC_PORT}" confrpc_ready; then
    log_tail "${DOVESNAP_LOG_DIR}/faucetconfrpc.log"
    die "faucetconfrpc: no answer on ${CONFRPC_HOST}:${CONFRPC_PORT} within 60s"
  fi
  log "faucetconfrpc: answering on ${CONFRPC_HOST}:${CONFRPC_PORT} (mutual TLS, keys ${FAUCETCONFRPC_KEYDIR}); FAUCET's metrics on $(faucet_prometheus_addr):${FAUCET_PROM_PORT}"
}

# ---------------------------------------------------------------- down.sh, status.sh
# Stops the server make up started (or the unit). The state file stays: the next make up starts
# it again, as it does FAUCET; `make up CONFRPC=0` forgets it.
stop_confrpc() {
  if unit_active "${CONFRPC_UNIT}"; then
    log "systemctl stop ${CONFRPC_UNIT}"
    systemctl stop "${CONFRPC_UNIT}"
  elif [[ -e "${CONFRPC_PIDFILE}" ]]; then
    stop_pidfile faucetconfrpc "${CONFRPC_PIDFILE}" "${CONFRPC_MATCH}" 15
  fi
}

# status.sh: whether it answers a client over mutual TLS, and how many DPs it serves.
confrpc_health() {
  local out
  if ! confrpc_have_client_keys; then
    printf '%s:%s, no %s client keys in %s to ask it' "${CONFRPC_HOST}" "${CONFRPC_PORT}" \
      "${CONFRPC_DEFAULT_CLIENT}" "${FAUCETCONFRPC_KEYDIR}"
    return 0
  fi
  out="$(confrpc_client get_dp_names 2>/dev/null)" || out=None
  if [[ "${out}" == None ]]; then
    printf '%s:%s not answering (mutual TLS as %s)' "${CONFRPC_HOST}" "${CONFRPC_PORT}" "${CONFRPC_DEFAULT_CLIENT}"
  else
    printf '%s:%s ok (mutual TLS), %s DPs' "${CONFRPC_HOST}" "${CONFRPC_PORT}" \
      "$({ grep -c '^dp_name:' <<<"${out}" || true; })"
  fi
}

# confrpc_leave TAG NAME=VALUE...: `dovesnap confrpc leave` with a daemon's environment (its
# FAUCETCONFRPC_* and DOVESNAP_HOST_NAME), once that daemon is stopped; nothing without
# FAUCETCONFRPC_ADDR. Its lines are logged with TAG; a controller away is a warning (the DPs
# stay there, a later `dovesnap confrpc leave` removes them).
confrpc_leave() {
  local tag="$1" cli line
  shift
  printf '%s\n' "$@" | grep -q '^FAUCETCONFRPC_ADDR=.' || return 0
  cli="$(dovesnap_cli_path)" || return 0
  # shellcheck disable=SC2086 # DOVESNAP_NODE_FLAGS is a list of flags
  env -i "$@" node ${DOVESNAP_NODE_FLAGS:-} "${cli}" confrpc leave 2>&1 | while read -r line; do log "${tag}${line}"; done ||
    warn "${tag}could not leave the shared FAUCET configuration (its DPs stay: run dovesnap confrpc leave when the controller answers)"
}
