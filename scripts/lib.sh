# shellcheck shell=bash disable=SC2034 # the constants are used by the scripts that source this
# Shared helpers and constants for the dovesnap host scripts (sourced, never run).
# Each script sets LOG_TAG (e.g. "dovesnap-up") before sourcing this file.

: "${LOG_TAG:=dovesnap}"

# ---- layout (one place; the systemd units in deploy/systemd and the daemon's environment in
# src/config/daemon-env.ts repeat these values: test/contract/systemd-units.test.ts holds them equal) ----
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOVESNAP_OPT=/opt/dovesnap
DOVESNAP_VENV="${DOVESNAP_OPT}/venv"
DOVESNAP_APP="${DOVESNAP_OPT}/app"
DOVESNAP_RELEASES="${DOVESNAP_OPT}/releases"
DOVESNAP_LOG_DIR=/var/log/dovesnap
DOVESNAP_RUN_DIR=/run/dovesnap
DOVESNAP_WRAPPER=/usr/local/bin/dovesnap
PIPEWORK_WRAPPER=/usr/local/bin/pipework
# A 1 MB young generation, and a heap that V8 grows only slowly (--optimize-for-size), keep the
# daemon's resident memory under 100 MB (docs/benchmarks.md): its live data is ~20 MB, but
# rendering FAUCET's file for many networks makes garbage that V8 otherwise lets pile up to
# 60 MB of heap before collecting it. Neither costs anything seen in the benchmarks.
DOVESNAP_NODE_FLAGS="--max-semi-space-size=1 --optimize-for-size"
DOVESNAP_PLUGIN_SOCK=/run/docker/plugins/dovesnap.sock
FAUCET_VERSION=1.10.12
FAUCET_OF_PORT=6653
GAUGE_OF_PORT=6654
FAUCET_PROM_PORT=9302
GAUGE_PROM_PORT=9303
FAUCET_METRICS_URL="http://127.0.0.1:${FAUCET_PROM_PORT}/metrics"
FAUCET_PIDFILE="${DOVESNAP_RUN_DIR}/faucet.pid"
GAUGE_PIDFILE="${DOVESNAP_RUN_DIR}/gauge.pid"
DAEMON_PIDFILE="${DOVESNAP_RUN_DIR}/dovesnap.pid"
DOCKERD_PIDFILE=/var/run/docker.pid
DOCKERD_MARKER="${DOVESNAP_RUN_DIR}/dockerd.started-by-up"
OVS_RUN_DIR=/var/run/openvswitch
OVS_DB=/etc/openvswitch/conf.db
OVS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
OVSDB_PIDFILE="${OVS_RUN_DIR}/ovsdb-server.pid"
VSWITCHD_PIDFILE="${OVS_RUN_DIR}/ovs-vswitchd.pid"
: "${FAUCET_PREFIX:=}"
FAUCET_CONF_DIR="${FAUCET_PREFIX}/etc/faucet"
: "${DOVESNAP_STATUS_ADDR:=127.0.0.1:9401}"
# Patterns that a live process's command line must contain to count as "ours".
FAUCET_MATCH='faucet.faucet'
GAUGE_MATCH='faucet.gauge'
DAEMON_MATCH='dist/src/cli/main.js daemon'
# Prometheus (`make up MONITORING=1`): Debian's package, our configuration (deploy/prometheus/).
PROMETHEUS_ADDR=127.0.0.1:9090
PROMETHEUS_CONF_DIR=/etc/dovesnap/prometheus
# Under Debian's /var/lib/prometheus, not /var/lib/dovesnap: the daemon's state directories are
# private (0700, root), and Prometheus runs as the prometheus user, who must reach its storage.
PROMETHEUS_DATA_DIR=/var/lib/prometheus/dovesnap
# Where releases before 2026-12 kept it; moved once by ensure_prometheus.
PROMETHEUS_OLD_DATA_DIR=/var/lib/dovesnap/prometheus
PROMETHEUS_PIDFILE="${DOVESNAP_RUN_DIR}/prometheus.pid"
PROMETHEUS_MATCH="--config.file=${PROMETHEUS_CONF_DIR}/prometheus.yml"
# On a systemd host, Debian's prometheus.service runs it, pointed at our files by this drop-in.
PROMETHEUS_DROPIN=/etc/systemd/system/prometheus.service.d/dovesnap.conf
: "${PROMETHEUS_RETENTION:=15d}"
# faucetconfrpc (`make up CONFRPC=1`, scripts/confrpc.sh): PyPI faucetconfrpc in a venv of its
# own (it depends on c65faucet, a FAUCET fork, which must not meet FAUCET's venv).
CONFRPC_VERSION=0.55.79
CONFRPC_VENV="${DOVESNAP_OPT}/confrpc-venv"
CONFRPC_PORT=59999
CONFRPC_PROM_PORT=59998
CONFRPC_PIDFILE="${DOVESNAP_RUN_DIR}/faucetconfrpc.pid"
CONFRPC_MATCH='bin/faucetconfrpc_server'
# The client certificate make up makes beside the server's (the daemon's default FAUCETCONFRPC_CLIENT).
CONFRPC_DEFAULT_CLIENT=faucetconfrpc
: "${FAUCETCONFRPC_KEYDIR:=/etc/dovesnap/confrpc}"

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

# ---- logging ----
log() { printf '%s: %s\n' "${LOG_TAG}" "$*"; }
warn() { printf '%s: WARNING: %s\n' "${LOG_TAG}" "$*" >&2; }
die() {
  printf '%s: ERROR: %s\n' "${LOG_TAG}" "$*" >&2
  exit 1
}

require_root() {
  [[ "$(id -u)" -eq 0 ]] || die "must run as root (try: sudo make ${1:-up})"
}

# Print the last lines of a log file to stderr, for failure messages.
log_tail() {
  local file="$1"
  if [[ -r "${file}" ]]; then
    printf '%s: ---- last lines of %s ----\n' "${LOG_TAG}" "${file}" >&2
    tail -n "${2:-25}" "${file}" >&2 || true
    printf '%s: ----\n' "${LOG_TAG}" >&2
  fi
}

# ---- processes ----

# cmdline_of PID: the process's command line with spaces between arguments.
cmdline_of() {
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# pidfile_pid PIDFILE [MATCH]: print the pid if the pidfile names a live process
# (whose command line contains MATCH, when given: guards against pid reuse). Else fail.
pidfile_pid() {
  local pidfile="$1" match="${2:-}" pid
  [[ -r "${pidfile}" ]] || return 1
  pid="$(tr -dc '0-9' <"${pidfile}")"
  [[ -n "${pid}" ]] || return 1
  pid_running "${pid}" || return 1
  if [[ -n "${match}" ]] && [[ "$(cmdline_of "${pid}")" != *"${match}"* ]]; then
    return 1
  fi
  printf '%s\n' "${pid}"
}

# listener_pid PORT: pid of the process listening on TCP PORT (any address), if any.
listener_pid() {
  { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2; } || true
}

# tracked_pid NAME PIDFILE MATCH PORT [HINT]: the pid of our NAME: its pidfile's, else that of the
# process on TCP PORT whose command line has MATCH, adopted (its pid written to PIDFILE). Nothing
# when none runs; exits the script when another program holds PORT (HINT ends the message).
tracked_pid() {
  local name="$1" pidfile="$2" match="$3" port="$4" hint="${5:-}" pid
  if pid="$(pidfile_pid "${pidfile}" "${match}")"; then
    printf '%s\n' "${pid}"
    return 0
  fi
  pid="$(listener_pid "${port}")"
  [[ -n "${pid}" ]] || return 0
  if [[ "$(cmdline_of "${pid}")" != *"${match}"* ]]; then
    die "${name}: TCP port ${port} is taken by pid ${pid}: $(cmdline_of "${pid}")${hint}"
  fi
  log "${name}: adopting running instance pid ${pid} (listening on ${port}, no pidfile)" >&2
  printf '%s\n' "${pid}" >"${pidfile}"
  printf '%s\n' "${pid}"
}

# wait_until SECONDS DESCRIPTION CMD...: run CMD five times a second until it succeeds (0).
# CMD returning 3 means "will never succeed" (e.g. the process died): stop waiting at once.
wait_until() {
  local timeout="$1" what="$2" deadline rc
  shift 2
  deadline=$((SECONDS + timeout))
  while true; do
    rc=0
    "$@" >/dev/null 2>&1 || rc=$?
    [[ "${rc}" -eq 0 ]] && return 0
    if [[ "${rc}" -eq 3 ]]; then
      warn "stopped waiting for ${what}: the process exited"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      warn "gave up after ${timeout}s waiting for ${what}"
      return 1
    fi
    sleep 0.2
  done
}

# pidfile_alive PIDFILE: the pidfile names a live process (whatever it runs right now).
pidfile_alive() {
  local pid
  pid="$(tr -dc '0-9' <"$1" 2>/dev/null)" || return 1
  [[ -n "${pid}" ]] && pid_running "${pid}"
}

# pid_running PID: the process runs. `kill -0` alone also succeeds on a zombie, which stays until
# its parent reaps it: a daemon started detached is a child of PID 1, and a PID 1 that is no init
# (a container's, a micro-VM's agent) reaps late or never. Counting a zombie as running cost every
# daemon restart seconds of waiting for it "to exit".
pid_running() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  # The state follows the command name, which is in parentheses and may itself hold ") ".
  stat="${stat##*) }"
  [[ "${stat:0:1}" != [ZX] ]]
}

pid_gone() { ! pid_running "$1"; }

# close_inherited_fds: closes every descriptor above 2 of the calling subshell, before it execs a
# daemon that detaches by itself (OVS's --detach keeps what it was given).
close_inherited_fds() {
  local fd
  for fd in /proc/"${BASHPID}"/fd/*; do
    fd="${fd##*/}"
    [[ "${fd}" -le 2 ]] || eval "exec ${fd}>&-"
  done
}

# start_detached PIDFILE LOGFILE CMD...: start CMD in its own session (setsid: no controlling
# terminal, so no terminal hang-up ever reaches it; not nohup, which would make FAUCET start
# with SIGHUP ignored), stdin from /dev/null, stdout+stderr appended to LOGFILE. The pidfile
# is written by the child itself just before exec, so it names the real process.
start_detached() {
  local pidfile="$1" logfile="$2"
  shift 2
  mkdir -p "$(dirname "${pidfile}")" "$(dirname "${logfile}")"
  rm -f "${pidfile}"
  printf '\n==== %s: started by %s: %s\n' "$(date -Is)" "${LOG_TAG}" "$*" >>"${logfile}"
  # The daemon keeps none of the caller's descriptors beyond 0-2: one it inherited (a lock the
  # caller holds, as with `flock LOCK make up`, or a pipe a CI runner reads to its end) would stay
  # held for the daemon's whole life.
  # shellcheck disable=SC2016 # $$ and $1 are for the inner shell
  (close_inherited_fds && exec setsid bash -c 'printf "%s\n" "$$" >"$1"; shift; exec "$@"' start_detached \
    "${pidfile}" "$@") </dev/null >>"${logfile}" 2>&1 &
  wait_until 5 "pidfile ${pidfile}" test -s "${pidfile}" || return 1
}

# start_recorded NAME PIDFILE LOGFILE STATEFILE STATE_FN ARGS_FN CMD...: start_detached CMD with
# ARGS_FN's lines as further arguments, exiting the script if it cannot be launched, then record
# what it was started with (STATE_FN's output) in STATEFILE, which a later run compares to
# decide on a restart.
start_recorded() {
  local name="$1" pidfile="$2" logfile="$3" statefile="$4" state_fn="$5" args_fn="$6" args=()
  shift 6
  mapfile -t args < <("${args_fn}")
  log "${name}: log ${logfile}"
  start_detached "${pidfile}" "${logfile}" "$@" "${args[@]}" || die "${name}: could not launch"
  "${state_fn}" >"${statefile}"
}

# stop_pidfile NAME PIDFILE MATCH [GRACE_SECONDS]: SIGTERM, wait, then SIGKILL. Idempotent.
stop_pidfile() {
  local name="$1" pidfile="$2" match="$3" grace="${4:-15}" pid
  if ! pid="$(pidfile_pid "${pidfile}" "${match}")"; then
    log "${name}: not running"
    rm -f "${pidfile}"
    return 0
  fi
  log "${name}: stopping pid ${pid} (SIGTERM, up to ${grace}s)"
  kill -TERM "${pid}" 2>/dev/null || true
  if ! wait_until "${grace}" "${name} to exit" pid_gone "${pid}"; then
    warn "${name}: pid ${pid} still alive after ${grace}s; sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
    wait_until 5 "${name} to die" pid_gone "${pid}" || die "${name}: pid ${pid} survived SIGKILL"
  fi
  rm -f "${pidfile}"
  log "${name}: stopped"
}

# ---- the up/down lock ----
# One `make up`/`make down` at a time. Everything started while holding it must not inherit
# the descriptor (or the daemon would hold the lock for its whole life): start_detached and
# the OVS starts close it, with every other descriptor the caller gave them.
LOCK_FD=9
# take_lock [LOCKFILE]: make up/down's by default (scripts/hosts.sh has one of its own).
take_lock() {
  local lockfile="${1:-${DOVESNAP_RUN_DIR}/up.lock}"
  mkdir -p "$(dirname "${lockfile}")"
  exec 9>"${lockfile}"
  if ! flock -n 9; then
    log "waiting for another make up/down to finish (${lockfile}, up to 10 min)"
    flock -w 600 9 || die "another make up/down still holds ${lockfile}"
  fi
}

# ---- systemd hosts (scripts/install-systemd.sh); never the case on a CI machine ----
systemd_pid1() { [[ -d /run/systemd/system ]]; }
unit_known() { systemd_pid1 && systemctl cat "$1" >/dev/null 2>&1; }
unit_active() { systemd_pid1 && systemctl is-active --quiet "$1"; }

# ---- misc ----
http_ok() { curl -sf -o /dev/null --max-time 3 "$1"; }

# dovesnap_cli ARGS...: the dovesnap command this checkout built (scripts/build.sh), else the
# installed app's. What the scripts share with the daemon (the datapath it picks, FAUCET's health,
# its environment) they ask it, so that the answer has one source.
dovesnap_cli() {
  local cli
  cli="$(dovesnap_cli_path)" || return 127
  node "${cli}" "$@"
}

# dovesnap_cli_path: the main.js dovesnap_cli runs (scripts/hosts.sh starts the hosts' daemons with it).
dovesnap_cli_path() {
  local cli
  for cli in "${REPO_ROOT}/dist/src/cli/main.js" "${DOVESNAP_APP}/dist/src/cli/main.js"; do
    if [[ -f "${cli}" ]]; then
      printf '%s\n' "${cli}"
      return 0
    fi
  done
  warn "dovesnap is not built (${REPO_ROOT}/dist/src/cli/main.js missing: scripts/build.sh builds it)"
  return 127
}

# sha256 of stdin, hex only.
sha256_stdin() { sha256sum | cut -d' ' -f1; }

# A stable hash of the given files and directories (names and contents).
hash_tree() {
  local path
  for path in "$@"; do
    if [[ -d "${path}" ]]; then
      find "${path}" -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
    elif [[ -e "${path}" ]]; then
      sha256sum "${path}"
    else
      printf 'missing %s\n' "${path}"
    fi
  done | sha256_stdin
}
