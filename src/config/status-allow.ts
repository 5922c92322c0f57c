import { BlockList, isIP } from 'node:net';

/**
 * Who may read the status API: the host itself (loopback, always: `make up`, `dovesnap status`
 * and Prometheus on the host read it there) and an allow-list of networks, matched against the
 * connection's own peer address only. Headers a client can set (X-Forwarded-For, X-Real-IP) are never consulted:
 * the original trusted them, so anyone could claim to be an allowed address.
 */
export interface AllowList {
  allows(address: string | undefined): boolean;
  /** As given, for messages. */
  readonly text: string;
}

/** Loopback, which is always allowed; the list adds to it. */
export const DEFAULT_STATUS_ALLOW = '127.0.0.0/8,::1/128';

/** Parses `CIDR[,CIDR…]` (a bare address is a /32 or /128); throws with the offending entry. */
export function parseAllowList(text: string): AllowList {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addSubnet('::1', 128, 'ipv6');
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const [addr = '', bits, extra] = raw.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (family === 0 || extra !== undefined || (bits !== undefined && !/^[0-9]{1,3}$/.test(bits)) || prefix > max) {
      throw new Error(`'${raw}' is not an address or a network (CIDR such as 10.0.0.0/8 or fd00::/8)`);
    }
    list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return {
    text,
    allows(address) {
      if (address === undefined) return false;
      // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
      const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
      const a = v4 ?? address;
      const family = isIP(a);
      return family !== 0 && list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}
