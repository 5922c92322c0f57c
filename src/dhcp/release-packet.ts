/**
 * A DHCPRELEASE (RFC 2131 §4.4.6), built by dovesnap itself, for the one case where a
 * container's own client cannot send it: the engine has already moved the interface out of
 * the container's namespace when the container leaves (see release.ts).
 */

export interface ReleaseFields {
  readonly mac: string;
  /** The leased address (ciaddr, and the packet's source). */
  readonly address: string;
  /** The server identifier (option 54) of the lease. */
  readonly serverId: string;
  readonly xid: number;
}

const MAGIC_COOKIE = [99, 130, 83, 99];
const BOOTREQUEST = 1;
const HTYPE_ETHERNET = 1;
const OPT_MESSAGE_TYPE = 53;
const OPT_SERVER_ID = 54;
const OPT_CLIENT_ID = 61;
const OPT_END = 255;
const DHCPRELEASE = 7;

function octets(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`not an IPv4 address: ${ip}`);
  return parts;
}

function macBytes(mac: string): number[] {
  const parts = mac.split(':').map((h) => Number.parseInt(h, 16));
  if (parts.length !== 6 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`not a MAC address: ${mac}`);
  return parts;
}

/**
 * The BOOTP message of the release. The client identifier is the one busybox udhcpc sends by
 * default (type 1, the MAC), so that servers that key leases by it (dnsmasq) find the lease;
 * those that key by chaddr (udhcpd) find it too.
 */
export function buildDhcpRelease(f: ReleaseFields): Buffer {
  const mac = macBytes(f.mac);
  const fixed = Buffer.alloc(236);
  fixed[0] = BOOTREQUEST;
  fixed[1] = HTYPE_ETHERNET;
  fixed[2] = 6;
  fixed.writeUInt32BE(f.xid >>> 0, 4);
  Buffer.from(octets(f.address)).copy(fixed, 12); // ciaddr
  Buffer.from(mac).copy(fixed, 28); // chaddr
  const options = [
    ...MAGIC_COOKIE,
    OPT_MESSAGE_TYPE,
    1,
    DHCPRELEASE,
    OPT_SERVER_ID,
    4,
    ...octets(f.serverId),
    OPT_CLIENT_ID,
    7,
    HTYPE_ETHERNET,
    ...mac,
    OPT_END,
  ];
  return Buffer.concat([fixed, Buffer.from(options)]);
}

/** The fields back out of a release, for tests and for the sender's log line. */
export function parseDhcpRelease(b: Buffer): {
  op: number;
  ciaddr: string;
  chaddr: string;
  messageType: number | undefined;
  serverId: string | undefined;
  clientId: string | undefined;
} {
  const ip = (o: number): string => [...b.subarray(o, o + 4)].join('.');
  const hex = (bytes: Buffer): string => [...bytes].map((x) => x.toString(16).padStart(2, '0')).join(':');
  let messageType: number | undefined;
  let serverId: string | undefined;
  let clientId: string | undefined;
  for (let i = 240; i < b.length; ) {
    const code = b[i] ?? OPT_END;
    if (code === OPT_END) break;
    if (code === 0) {
      i += 1;
      continue;
    }
    const len = b[i + 1] ?? 0;
    const val = b.subarray(i + 2, i + 2 + len);
    if (code === OPT_MESSAGE_TYPE) messageType = val[0];
    if (code === OPT_SERVER_ID) serverId = [...val].join('.');
    if (code === OPT_CLIENT_ID) clientId = hex(val);
    i += 2 + len;
  }
  return { op: b[0] ?? 0, ciaddr: ip(12), chaddr: hex(b.subarray(28, 34)), messageType, serverId, clientId };
}
