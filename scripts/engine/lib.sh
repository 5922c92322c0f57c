# shellcheck shell=bash disable=SC2034 # the constants are used by the scripts that source this
# The host's Docker Engine: Debian's (docker.io 20.10, the default) or the current one that
# scripts/engine/build-current.sh builds from the Go module proxy (Docker 29). Sourced after
# scripts/lib.sh by scripts/up.sh, scripts/down.sh and scripts/engine/*.sh, never run.
#
# Which engine the host runs is recorded in ${ENGINE_STATE_FILE} by scripts/engine/use.sh
# ("debian" when the file is missing); `make up` and the tests that restart dockerd (through
# `make up`) start the recorded one. Both engines serve /var/run/docker.sock and write
# /var/run/docker.pid, so everything that talks to or signals "the engine" works with either;
# their images, containers, networks and containerd state never mix: the current engine keeps
# them in ${CUR_DATA_ROOT} and ${CUR_EXEC_ROOT}, with a containerd of its own.

# ---- versions: a change here makes build-current.sh build again ----
# Docker 29's engine is the Go module github.com/moby/moby/v2; its only tags on the proxy are
# v2.0.0-beta.N, cut from the 29.x development line (the docker-v29.x.y release tags are not
# module versions). beta.24's releases/versions.yaml says last 29.8.0, next 29.8.1: the
# binaries report CURRENT_DOCKER_VERSION, with the module version as their build. beta.25 is
# newer, but the proxy answers 403 "not available" for modules dockerd needs at the versions
# it pins (buildkit v0.34.0-rc1, swarmkit, profiles/apparmor v0.2.2...): it cannot be built.
CURRENT_MOBY_MODULE_VERSION=v2.0.0-beta.24
CURRENT_DOCKER_VERSION=29.8.1-dev
# The versions that module's Dockerfile builds with (CONTAINERD_VERSION, RUNC_VERSION,
# DOCKERCLI_VERSION). Docker 29 raised the oldest API version it accepts (29.0: 1.44, above
# Debian's 20.10 client's 1.41; this 29.8 line: 1.40), so the engine comes with its own CLI
# (bin/docker), which the e2e tests use with it.
CURRENT_CONTAINERD_VERSION=2.3.5
CURRENT_RUNC_VERSION=1.5.1
CURRENT_CLI_VERSION=29.8.0
# Bump when the way the binaries are built changes (flags, tags), to rebuild the same versions.
CURRENT_BUILD_REVISION=1

ENGINES_DIR="${DOVESNAP_OPT}/engines"
CURRENT_ENGINE_HOME="${ENGINES_DIR}/docker-${CURRENT_DOCKER_VERSION}"
CURRENT_ENGINE_BIN="${CURRENT_ENGINE_HOME}/bin"
CURRENT_BUILD_INFO="${CURRENT_ENGINE_HOME}/BUILD-INFO"
CURRENT_CLIENT="${CURRENT_ENGINE_BIN}/docker"
# Only the engine's client, to put first in PATH (make test-engine-current) without the engine's
# dockerd, containerd and runc, which Debian's dockerd would otherwise find there.
CURRENT_CLIENT_DIR="${CURRENT_ENGINE_HOME}/client"

ENGINE_STATE_FILE=/var/lib/dovesnap/engine
# The docker CLI that matches the swapped-in engine, while it is not Debian's (the e2e harness
# reads it; each engine is driven with its own client).
ENGINE_CLIENT_FILE=/var/lib/dovesnap/engine.client
# What the firewall looked like under the engine before the current one (use.sh restores it).
ENGINE_FIREWALL_SNAPSHOT=/var/lib/dovesnap/engine.firewall-before
DEBIAN_DOCKERD=/usr/sbin/dockerd
DOCKER_SOCK=/var/run/docker.sock
DOCKERD_LAUNCH_PIDFILE="${DOVESNAP_RUN_DIR}/dockerd.launch.pid"

# ---- where the current engine runs. scripts/engine/smoke.sh points these elsewhere to try the
# build next to the host's engine; nothing else changes them. ----
CUR_SOCK="${DOCKER_SOCK}"
CUR_PIDFILE="${DOCKERD_PIDFILE}"
CUR_MARKER="${DOCKERD_MARKER}"
CUR_LAUNCH_PIDFILE="${DOCKERD_LAUNCH_PIDFILE}"
CUR_DATA_ROOT=/var/lib/docker-current
CUR_EXEC_ROOT=/run/docker-current
CUR_CONTAINERD_PIDFILE="${DOVESNAP_RUN_DIR}/containerd-current.pid"
CUR_DOCKERD_LOG="${DOVESNAP_LOG_DIR}/dockerd-current.log"
CUR_CONTAINERD_LOG="${DOVESNAP_LOG_DIR}/containerd-current.log"
CUR_DOCKERD_EXTRA_ARGS=()
CUR_DOCKERD_WRAPPER=() # a command dockerd runs under (smoke.sh: a network namespace of its own)

# The layout dockerd itself gives a containerd it supervises, under the current engine's roots.
cur_containerd_sock() { printf '%s/containerd/containerd.sock\n' "${CUR_EXEC_ROOT}"; }
cur_path() { printf '%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' "${CURRENT_ENGINE_BIN}"; }

# ---- which engine ----

# active_engine: the recorded engine, "debian" or "current".
active_engine() {
  local engine
  engine="$(cat "${ENGINE_STATE_FILE}" 2>/dev/null || true)"
  case "${engine}" in
    current) echo current ;;
    debian | "") echo debian ;;
    *)
      warn "engine: ${ENGINE_STATE_FILE} says '${engine}' (not debian or current): using Debian's"
      echo debian
      ;;
  esac
}

record_engine() {
  mkdir -p "$(dirname "${ENGINE_STATE_FILE}")"
  printf '%s\n' "$1" >"${ENGINE_STATE_FILE}.tmp"
  mv -f "${ENGINE_STATE_FILE}.tmp" "${ENGINE_STATE_FILE}"
  if [[ "$1" == current ]]; then
    printf '%s\n' "${CURRENT_CLIENT}" >"${ENGINE_CLIENT_FILE}.tmp"
    mv -f "${ENGINE_CLIENT_FILE}.tmp" "${ENGINE_CLIENT_FILE}"
  else
    rm -f "${ENGINE_CLIENT_FILE}"
  fi
}

# engine_answers SOCKET: an engine answers GET /info there. Asked without a docker client, so
# that no client's API version decides it.
engine_answers() { curl -sf -o /dev/null --max-time 20 --unix-socket "$1" http://localhost/info; }

# running_client: the docker CLI that speaks to the engine that runs now.
running_client() {
  if [[ "$(running_engine)" == current ]]; then echo "${CURRENT_CLIENT}"; else echo docker; fi
}

require_docker_cli() {
  command -v docker >/dev/null || die "the docker command is missing: make up installs it (Debian's docker.io)"
}

# dockerd_exe PID: the executable the process runs (without a " (deleted)" suffix).
dockerd_exe() {
  local exe
  exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
  printf '%s\n' "${exe% (deleted)}"
}

# running_engine: which engine /var/run/docker.pid names: current, debian, none, or other:EXE.
running_engine() {
  local pid exe
  pid="$(pidfile_pid "${DOCKERD_PIDFILE}" dockerd)" || { echo none; return 0; }
  exe="$(dockerd_exe "${pid}")" || { echo none; return 0; }
  case "${exe}" in
    "${CURRENT_ENGINE_BIN}/dockerd") echo current ;;
    "${DEBIAN_DOCKERD}") echo debian ;;
    *) echo "other:${exe}" ;;
  esac
}

# current_engine_built: the binaries exist and report the versions above (quietly).
current_engine_built() {
  local bin="${CURRENT_ENGINE_BIN}"
  [[ -x "${bin}/dockerd" && -x "${bin}/docker" && -x "${bin}/docker-proxy" && -x "${bin}/docker-init" && -x "${bin}/containerd" &&
    -x "${bin}/containerd-shim-runc-v2" && -x "${bin}/ctr" && -x "${bin}/runc" && -x "${CURRENT_CLIENT_DIR}/docker" ]] || return 1
  [[ "$(sed -n 's/^revision=//p' "${CURRENT_BUILD_INFO}" 2>/dev/null)" == "${CURRENT_BUILD_REVISION}" ]] || return 1
  [[ "$("${bin}/dockerd" --version 2>/dev/null)" == "Docker version ${CURRENT_DOCKER_VERSION},"* ]] || return 1
  [[ "$("${bin}/docker" --version 2>/dev/null)" == "Docker version ${CURRENT_CLI_VERSION},"* ]] || return 1
  [[ "$("${bin}/containerd" --version 2>/dev/null)" == *" v${CURRENT_CONTAINERD_VERSION} "* ]] || return 1
  [[ "$("${bin}/runc" --version 2>/dev/null | head -n1)" == "runc version ${CURRENT_RUNC_VERSION}" ]] || return 1
}

# ---- starting and stopping ----

cur_containerd_ready() {
  pidfile_alive "${CUR_CONTAINERD_PIDFILE}" || return 3
  "${CURRENT_ENGINE_BIN}/ctr" --address "$(cur_containerd_sock)" version
}

cur_dockerd_ready() {
  pidfile_alive "${CUR_LAUNCH_PIDFILE}" || return 3
  engine_answers "${CUR_SOCK}"
}

# containerd's configuration: every path under the current engine's roots (no /etc/containerd,
# no /opt/containerd), CRI off, as dockerd configures a containerd it supervises (version 2 of
# the file, which containerd 2 migrates; containerd 2 splits CRI into the four plugins below).
write_cur_containerd_config() {
  local sock
  sock="$(cur_containerd_sock)"
  mkdir -p "$(dirname "${sock}")"
  cat >"${CUR_EXEC_ROOT}/containerd.toml" <<EOF
# written by dovesnap scripts/engine/lib.sh at every start
version = 2
root = "${CUR_DATA_ROOT}/containerd/daemon"
state = "${CUR_EXEC_ROOT}/containerd/daemon"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox"]

[grpc]
  address = "${sock}"

[ttrpc]
  address = "${sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${CUR_DATA_ROOT}/containerd/opt"
EOF
}

# start_current_containerd: unless it runs already (a dockerd restart leaves it running).
start_current_containerd() {
  if pidfile_pid "${CUR_CONTAINERD_PIDFILE}" "${CURRENT_ENGINE_BIN}/containerd" >/dev/null &&
    cur_containerd_ready >/dev/null 2>&1; then
    log "engine: containerd ${CURRENT_CONTAINERD_VERSION} running (pid $(cat "${CUR_CONTAINERD_PIDFILE}"))"
    return 0
  fi
  write_cur_containerd_config
  rm -f "$(cur_containerd_sock)" "$(cur_containerd_sock).ttrpc"
  log "engine: starting containerd ${CURRENT_CONTAINERD_VERSION} (log ${CUR_CONTAINERD_LOG})"
  # PATH: containerd finds the shim, and the shim runc, through it: the built ones come first.
  start_detached "${CUR_CONTAINERD_PIDFILE}" "${CUR_CONTAINERD_LOG}" \
    env PATH="$(cur_path)" "${CURRENT_ENGINE_BIN}/containerd" --config "${CUR_EXEC_ROOT}/containerd.toml" ||
    return 1
  if ! wait_until 30 "containerd at $(cur_containerd_sock)" cur_containerd_ready; then
    log_tail "${CUR_CONTAINERD_LOG}"
    return 1
  fi
}

# start_current_engine: containerd, then dockerd on ${CUR_SOCK}; waits for `docker info`, and
# writes ${CUR_MARKER} (make down-all stops what make up started). Fails (1) with the log shown.
start_current_engine() {
  local pid
  current_engine_built || {
    warn "engine: Docker ${CURRENT_DOCKER_VERSION} is not built in ${CURRENT_ENGINE_BIN}: run scripts/engine/build-current.sh"
    return 1
  }
  mkdir -p "${CUR_DATA_ROOT}" "${CUR_EXEC_ROOT}"
  chmod 0710 "${CUR_DATA_ROOT}"
  chmod 0700 "${CUR_EXEC_ROOT}"
  start_current_containerd || return 1
  printf '{}\n' >"${CUR_EXEC_ROOT}/daemon.json" # not /etc/docker/daemon.json: that is Debian's engine's
  log "engine: starting dockerd ${CURRENT_DOCKER_VERSION} on ${CUR_SOCK} (data ${CUR_DATA_ROOT}, log ${CUR_DOCKERD_LOG})"
  start_detached "${CUR_LAUNCH_PIDFILE}" "${CUR_DOCKERD_LOG}" \
    "${CUR_DOCKERD_WRAPPER[@]}" env PATH="$(cur_path)" "${CURRENT_ENGINE_BIN}/dockerd" \
    --config-file "${CUR_EXEC_ROOT}/daemon.json" \
    -H "unix://${CUR_SOCK}" --pidfile "${CUR_PIDFILE}" \
    --data-root "${CUR_DATA_ROOT}" --exec-root "${CUR_EXEC_ROOT}" \
    --containerd "$(cur_containerd_sock)" \
    --userland-proxy-path "${CURRENT_ENGINE_BIN}/docker-proxy" \
    --init-path "${CURRENT_ENGINE_BIN}/docker-init" \
    "${CUR_DOCKERD_EXTRA_ARGS[@]}" || return 1
  # Marked as ours at once, not once it answers: one that never answers must still be stoppable by make down-all.
  pid="$(cat "${CUR_LAUNCH_PIDFILE}")"
  cp "${CUR_LAUNCH_PIDFILE}" "${CUR_MARKER}"
  if ! wait_until 60 "docker info at ${CUR_SOCK}" cur_dockerd_ready; then
    log_tail "${CUR_DOCKERD_LOG}"
    return 1
  fi
  rm -f "${CUR_LAUNCH_PIDFILE}"
  log "engine: dockerd ${CURRENT_DOCKER_VERSION} answering (pid ${pid})"
}

# start_debian_engine: Debian's dockerd, as `make up` has always started it: docker.service
# where systemd runs the host, else /usr/sbin/dockerd detached (marker for make down-all).
start_debian_engine() {
  if unit_known docker.service; then
    log "docker: engine not answering; systemctl start docker.service"
    systemctl start docker.service
    wait_until 60 "docker info" engine_answers "${DOCKER_SOCK}" || die "docker: docker.service did not answer within 60s"
    return 0
  fi
  [[ -x "${DEBIAN_DOCKERD}" ]] || die "docker: ${DEBIAN_DOCKERD} missing (package docker.io?)"
  log "docker: engine not answering; starting ${DEBIAN_DOCKERD} (log ${DOVESNAP_LOG_DIR}/dockerd.log)"
  start_detached "${DOCKERD_LAUNCH_PIDFILE}" "${DOVESNAP_LOG_DIR}/dockerd.log" \
    "${DEBIAN_DOCKERD}" || die "docker: could not launch dockerd"
  # Remember that we started it, so that `make down-all` may stop it (and only it); at once,
  # so that one that never answers (and fails this make up) can still be stopped.
  cp "${DOCKERD_LAUNCH_PIDFILE}" "${DOCKERD_MARKER}"
  rm -f "${DOCKERD_LAUNCH_PIDFILE}"
  if ! wait_until 60 "docker info" engine_answers "${DOCKER_SOCK}"; then
    log_tail "${DOVESNAP_LOG_DIR}/dockerd.log"
    die "docker: engine did not answer within 60s"
  fi
  log "docker: started (pid $(cat "${DOCKERD_MARKER}"))"
}

# stop_current_containerd: the current engine's containerd, if it runs (only ever ours: the
# pidfile must name the built binary). Shims of containers still running would outlive it.
stop_current_containerd() {
  local shims
  pidfile_pid "${CUR_CONTAINERD_PIDFILE}" "${CURRENT_ENGINE_BIN}/containerd" >/dev/null || {
    rm -f "${CUR_CONTAINERD_PIDFILE}"
    return 0
  }
  stop_pidfile "containerd ${CURRENT_CONTAINERD_VERSION}" "${CUR_CONTAINERD_PIDFILE}" "${CURRENT_ENGINE_BIN}/containerd" 30
  shims="$(pgrep -f -- "-address $(cur_containerd_sock)( |$)" || true)"
  [[ -z "${shims}" ]] || warn "engine: containerd shims of the current engine still run (pids ${shims//$'\n'/ }): containers dockerd did not stop"
}

# stop_host_engine: whatever engine serves /var/run/docker.sock: docker.service, or the dockerd
# in /var/run/docker.pid (SIGTERM: it stops its containers first), then the containerd it used.
stop_host_engine() {
  local pid supervised
  if unit_active docker.socket || unit_active docker.service; then
    log "engine: systemctl stop docker.socket docker.service"
    systemctl stop docker.socket docker.service
  fi
  if pid="$(pidfile_pid "${DOCKERD_PIDFILE}" dockerd)"; then
    log "engine: stopping dockerd pid ${pid} ($(dockerd_exe "${pid}" || echo '?'))"
    # A containerd that Debian's dockerd supervises exits with it; wait for that too.
    supervised="$(pidfile_pid /var/run/docker/containerd/containerd.pid containerd || true)"
    stop_pidfile dockerd "${DOCKERD_PIDFILE}" dockerd 90
    if [[ -n "${supervised}" ]] && ! wait_until 20 "dockerd's containerd (pid ${supervised}) to exit" pid_gone "${supervised}"; then
      warn "engine: containerd pid ${supervised} outlived its dockerd; left running"
    fi
  fi
  rm -f "${DOCKERD_MARKER}"
  stop_current_containerd
  if engine_answers "${DOCKER_SOCK}"; then
    die "engine: something still answers on ${DOCKER_SOCK} after dockerd stopped (not a dockerd in ${DOCKERD_PIDFILE}); stop it first"
  fi
}

# ---- the firewall between engines ----
# Neither engine removes its iptables chains when it stops, and each removes and re-creates at
# start only the ones it knows. Docker 29 (as 28) removes 20.10's jump rules itself (it was
# written for that upgrade), but 20.10 does not know 29's chains: after 29 stops, FORWARD keeps
# jumping to DOCKER-FORWARD (-> DOCKER-CT, DOCKER-INTERNAL, DOCKER-BRIDGE), and 29 manages
# ip6tables (20.10 does not by default), so IPv6 keeps all of 29's chains, a DOCKER-USER that
# tells dovesnap's narwhal that Docker manages IPv6, and possibly a FORWARD policy of DROP. So
# between the two engines (none running), use.sh removes Docker's own chains (DOCKER_CHAINS
# below; never DOCKER-USER, which holds dovesnap's and the operator's rules) and the rules of
# the built-in chains that jump to them; going back it also restores what it recorded before
# the swap: the FORWARD policies, and the absence of a DOCKER-USER chain that 29 made. Rules
# without a jump (MASQUERADE, the ACCEPTs of bridges) are left: the next engine re-makes the
# ones it needs, and those of bridge networks that exist only in the stopped engine match no
# traffic of the other.
DOCKER_CHAINS_FILTER=(DOCKER-FORWARD DOCKER-BRIDGE DOCKER-CT DOCKER-INTERNAL DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-ISOLATION DOCKER)
DOCKER_CHAINS_NAT=(DOCKER)
FIREWALL_TOOLS=(iptables ip6tables)

fw_chain_exists() { "$1" -w -t "$2" -n -L "$3" >/dev/null 2>&1; }

# fw_delete_jumps TOOL TABLE CHAIN TARGET...: delete CHAIN's rules that end in `-j TARGET`.
# Rules with quoted arguments (comments) are never Docker's jumps, and are not parsed.
fw_delete_jumps() {
  local tool="$1" table="$2" chain="$3" line target
  local -a args
  shift 3
  while IFS= read -r line; do
    [[ "${line}" == "-A ${chain} "* && "${line}" != *'"'* ]] || continue
    for target in "$@"; do
      [[ "${line}" == *" -j ${target}" ]] || continue
      read -ra args <<<"${line#-A }"
      if "${tool}" -w -t "${table}" -D "${args[@]}" 2>/dev/null; then
        log "firewall: ${tool} -t ${table}: removed ${line}"
      fi
      break
    done
  done < <("${tool}" -w -t "${table}" -S "${chain}" 2>/dev/null || true)
}

# fw_remove_chains TOOL TABLE CHAIN...: the jumps to them from the built-in chains, then the
# chains (flushed first, all of them, so that their jumps to each other go too).
fw_remove_chains() {
  local tool="$1" table="$2" chain builtin
  local -a present=()
  shift 2
  for chain in "$@"; do fw_chain_exists "${tool}" "${table}" "${chain}" && present+=("${chain}"); done
  [[ ${#present[@]} -gt 0 ]] || return 0
  case "${table}" in
    filter) for builtin in INPUT FORWARD OUTPUT; do fw_delete_jumps "${tool}" "${table}" "${builtin}" "${present[@]}"; done ;;
    nat) for builtin in PREROUTING INPUT OUTPUT POSTROUTING; do fw_delete_jumps "${tool}" "${table}" "${builtin}" "${present[@]}"; done ;;
  esac
  for chain in "${present[@]}"; do "${tool}" -w -t "${table}" -F "${chain}" 2>/dev/null || true; done
  for chain in "${present[@]}"; do
    if "${tool}" -w -t "${table}" -X "${chain}" 2>/dev/null; then
      log "firewall: ${tool} -t ${table}: removed chain ${chain}"
    else
      warn "firewall: ${tool} -t ${table}: chain ${chain} flushed but kept (a chain that is not Docker's jumps to it)"
    fi
  done
}

# Docker 29 with --firewall-backend=nftables (not its default) keeps its rules in tables of
# its own instead, which it does not delete when it stops either.
DOCKER_NFT_TABLES=("ip docker-bridges" "ip6 docker-bridges")

# remove_docker_chains: with no engine running only.
remove_docker_chains() {
  local tool table
  for tool in "${FIREWALL_TOOLS[@]}"; do
    command -v "${tool}" >/dev/null || continue
    fw_remove_chains "${tool}" filter "${DOCKER_CHAINS_FILTER[@]}"
    fw_remove_chains "${tool}" nat "${DOCKER_CHAINS_NAT[@]}"
  done
  for table in "${DOCKER_NFT_TABLES[@]}"; do
    # shellcheck disable=SC2086 # "FAMILY NAME": two words on purpose
    nft list table ${table} >/dev/null 2>&1 || continue
    # shellcheck disable=SC2086
    nft delete table ${table} && log "firewall: removed nftables table ${table}"
  done
}

fw_forward_policy() { "$1" -w -t filter -S FORWARD 2>/dev/null | sed -n 's/^-P FORWARD //p'; }

# snapshot_firewall: before the first swap away from Debian's engine (kept until it is back).
snapshot_firewall() {
  local tool table
  [[ -f "${ENGINE_FIREWALL_SNAPSHOT}" ]] && return 0
  mkdir -p "$(dirname "${ENGINE_FIREWALL_SNAPSHOT}")"
  {
    for tool in "${FIREWALL_TOOLS[@]}"; do
      command -v "${tool}" >/dev/null || continue
      printf '%s policy %s\n' "${tool}" "$(fw_forward_policy "${tool}")"
      if fw_chain_exists "${tool}" filter DOCKER-USER; then
        printf '%s docker-user yes\n' "${tool}"
      else
        printf '%s docker-user no\n' "${tool}"
      fi
    done
    # Docker 29's ip6tables (iptables-nft) makes these nftables tables; 20.10 does not.
    for table in nat filter; do
      if nft list table ip6 "${table}" >/dev/null 2>&1; then
        printf 'nft-table ip6/%s yes\n' "${table}"
      else
        printf 'nft-table ip6/%s no\n' "${table}"
      fi
    done
    printf 'sysctl net.ipv4.ip_forward %s\n' "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo '?')"
    printf 'sysctl net.ipv6.conf.all.forwarding %s\n' "$(cat /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null || echo '?')"
  } >"${ENGINE_FIREWALL_SNAPSHOT}.tmp"
  mv -f "${ENGINE_FIREWALL_SNAPSHOT}.tmp" "${ENGINE_FIREWALL_SNAPSHOT}"
  log "firewall: recorded FORWARD policies and DOCKER-USER chains in ${ENGINE_FIREWALL_SNAPSHOT}"
}

# restore_firewall: with no engine running, after remove_docker_chains; forgets the snapshot.
restore_firewall() {
  local tool what value now rule family table
  if [[ ! -f "${ENGINE_FIREWALL_SNAPSHOT}" ]]; then
    log "firewall: no record of the firewall before the swap (${ENGINE_FIREWALL_SNAPSHOT}); policies left as they are"
    return 0
  fi
  while read -r tool what value; do
    case "${tool}:${what}" in
      sysctl:*)
        now="$(cat "/proc/sys/${what//.//}" 2>/dev/null || echo '?')"
        # Not written back: writing all.forwarding resets every interface's own setting.
        [[ "${now}" == "${value}" ]] ||
          warn "firewall: ${what} was ${value} before the swap and is ${now} now (Docker ${CURRENT_DOCKER_VERSION} sets it for IPv6 bridge networks); left as it is"
        ;;
      *:policy)
        command -v "${tool}" >/dev/null || continue
        now="$(fw_forward_policy "${tool}")"
        if [[ -n "${value}" && "${now}" != "${value}" ]]; then
          "${tool}" -w -P FORWARD "${value}"
          log "firewall: ${tool} FORWARD policy back to ${value} (was ${now})"
        fi
        ;;
      nft-table:*)
        # Deleted only if the swap made it and nothing but empty base chains is left in it.
        family="${what%/*}" table="${what#*/}"
        if [[ "${value}" == no ]] && nft list table "${family}" "${table}" >/dev/null 2>&1; then
          if nft -j list table "${family}" "${table}" | grep -q '"rule"'; then
            warn "firewall: nftables table ${family} ${table} was made during the swap and still has rules; left as it is"
          else
            nft delete table "${family}" "${table}"
            log "firewall: removed the empty nftables table ${family} ${table} (made by Docker ${CURRENT_DOCKER_VERSION}'s ip6tables)"
          fi
        fi
        ;;
      *:docker-user)
        command -v "${tool}" >/dev/null || continue
        if [[ "${value}" == no ]] && fw_chain_exists "${tool}" filter DOCKER-USER; then
          while IFS= read -r rule; do
            log "firewall: ${tool} DOCKER-USER (made by Docker ${CURRENT_DOCKER_VERSION}) had: ${rule}"
          done < <("${tool}" -w -S DOCKER-USER 2>/dev/null | grep -v '^-N ' || true)
          fw_remove_chains "${tool}" filter DOCKER-USER
        fi
        ;;
    esac
  done <"${ENGINE_FIREWALL_SNAPSHOT}"
  rm -f "${ENGINE_FIREWALL_SNAPSHOT}"
}
