/**
 * The programs our lab images start with. They are part of each recipe's content hash (a change
 * here rebuilds the image), so they are plain strings, not files looked up at run time.
 */

/** Where the frr image keeps its entry point. */
export const FRR_ENTRYPOINT_PATH = '/usr/local/sbin/dovesnap-frr';

/** Where the capture image keeps its idle entry point. */
export const IDLE_ENTRYPOINT_PATH = '/usr/local/sbin/dovesnap-idle';

/**
 * FRR without systemd. The lab puts the node's configuration at /etc/frr/frr.conf before this
 * runs; the script enables the daemons that configuration needs (FRR's own daemons file lists
 * them all as `no`), lets FRR's init script start watchfrr (which starts and watches the daemons
 * and has vtysh load frr.conf), and then waits. PID 1 ignores SIGTERM unless it handles it, so
 * without the trap `docker stop` would wait out its 10 s and kill.
 */
export const FRR_ENTRYPOINT = String.raw`#!/bin/sh
# dovesnap-frr: FRR's daemons in a container, without systemd (written by dovesnap).
# Enables zebra, staticd and the daemons /etc/frr/frr.conf needs (plus any named in
# DOVESNAP_FRR_DAEMONS, e.g. "bfdd pimd"), starts them through watchfrr, and waits.
# SIGTERM or SIGINT stops FRR and exits 0. "dovesnap-frr --daemons [FILE]" prints the daemons
# FILE needs and exits.
C=/etc/frr
CONF="$C/frr.conf"
ALL="zebra bgpd ripd ripngd ospfd ospf6d isisd babeld pimd pim6d ldpd nhrpd eigrpd sharpd pbrd staticd bfdd fabricd vrrpd pathd"

log() { echo "dovesnap-frr: $*" >&2; }

# has REGEX: the configuration has a line matching REGEX (extended, leading blanks allowed).
has() { [ -r "$CONF" ] && grep -Eq "^[[:space:]]*($1)" "$CONF"; }

wanted() {
  w="zebra staticd"
  has 'router ospf([[:space:]]|$)' && w="$w ospfd"
  has 'router ospf6([[:space:]]|$)' && w="$w ospf6d"
  has 'router bgp([[:space:]]|$)' && w="$w bgpd"
  has 'router rip([[:space:]]|$)' && w="$w ripd"
  has 'router ripng([[:space:]]|$)' && w="$w ripngd"
  has 'router isis([[:space:]]|$)' && w="$w isisd"
  has 'router openfabric([[:space:]]|$)' && w="$w fabricd"
  has 'router eigrp([[:space:]]|$)' && w="$w eigrpd"
  has 'router babel([[:space:]]|$)' && w="$w babeld"
  has 'mpls ldp([[:space:]]|$)' && w="$w ldpd"
  has '(router pim|ip pim)([[:space:]]|$)' && w="$w pimd"
  has '(router pim6|ipv6 pim)([[:space:]]|$)' && w="$w pim6d"
  has 'pbr-map([[:space:]]|$)' && w="$w pbrd"
  has 'vrrp([[:space:]]|$)' && w="$w vrrpd"
  has '(bfd|.*[[:space:]]bfd)([[:space:]]|$)' && w="$w bfdd"
  echo "$w $DOVESNAP_FRR_DAEMONS"
}

write_daemons() {
  want=" $(wanted) "
  for d in $DOVESNAP_FRR_DAEMONS; do
    case " $ALL " in *" $d "*) ;; *) log "DOVESNAP_FRR_DAEMONS: $d is not an FRR daemon (one of: $ALL)"; exit 2 ;; esac
  done
  {
    echo "# written by dovesnap-frr at container start from $CONF; edits are lost"
    for d in $ALL; do
      case "$want" in *" $d "*) echo "$d=yes" ;; *) echo "$d=no" ;; esac
      # The vty (telnet) listens on loopback only; vtysh uses the daemons' unix sockets.
      if [ "$d" = zebra ]; then echo 'zebra_options="-A 127.0.0.1 -s 90000000"'
      else echo "$d""_options=\"-A 127.0.0.1\""; fi
    done
    echo "vtysh_enable=yes"
    echo 'frr_global_options="--log file:/var/log/frr/frr.log"'
  } >"$C/daemons"
  log "enabled:$(for d in $ALL; do case "$want" in *" $d "*) printf ' %s' "$d" ;; esac; done)"
}

prepare() {
  mkdir -p /var/run/frr /var/log/frr
  [ -e "$CONF" ] || : >"$CONF"
  [ -e "$C/vtysh.conf" ] || : >"$C/vtysh.conf"
  grep -q '^service integrated-vtysh-config' "$C/vtysh.conf" ||
    echo 'service integrated-vtysh-config' >>"$C/vtysh.conf"
  # A read-only bind mount cannot be chowned; FRR only needs to read it then.
  chown -R frr:frr "$C" /var/run/frr /var/log/frr 2>/dev/null ||
    log "could not chown everything in $C to frr:frr (read-only mount?); going on"
  chmod 640 "$CONF" 2>/dev/null || true
}

# dovesnap-frr --daemons [FILE]: print the daemons FILE (default frr.conf) needs, start nothing.
if [ "$#" -gt 0 ] && [ "$1" = --daemons ]; then
  [ -n "$2" ] && CONF="$2"
  echo $(wanted)
  exit 0
fi

stopping=0
tailpid=
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  log "stopping FRR"
  /usr/lib/frr/frrinit.sh stop >/dev/null 2>&1
  # One more poll of tail's, for FRR's last lines.
  sleep 0.3
  [ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
  exit 0
}
trap stop TERM INT

write_daemons
prepare
: >>/var/log/frr/frr.log
chown frr:frr /var/log/frr/frr.log 2>/dev/null
# FRR's log, on the container's output (docker logs). tail polls (it takes overlayfs for a
# remote file system, where inotify is not trusted): every 0.2 s rather than its 1 s.
tail -n 0 -s 0.2 -F /var/log/frr/frr.log &
tailpid=$!
/usr/lib/frr/frrinit.sh start || { log "frrinit.sh start failed"; exit 1; }

# Wait in short sleeps: a trapped signal is handled when wait returns, at once. Exit when
# watchfrr (which restarts crashed daemons) is itself gone.
while :; do
  sleep 5 &
  wait $!
  pid=$(cat /var/run/frr/watchfrr.pid 2>/dev/null)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    log "watchfrr is not running; exiting"
    exit 1
  fi
done
`;

/**
 * Keeps a container running, doing nothing, until `docker stop` (SIGTERM) or Ctrl-C (SIGINT):
 * the capture image's default command, so that `docker exec … tcpdump` has a container to run in.
 */
export const IDLE_ENTRYPOINT = `#!/bin/sh
# dovesnap-idle: wait until SIGTERM or SIGINT, then exit 0 (written by dovesnap).
trap 'exit 0' TERM INT
while :; do
  sleep 3600 &
  wait $!
done
`;
