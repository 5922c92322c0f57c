import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { buildDhcpRelease } from './release-packet.js';

/**
 * Sends one DHCPRELEASE from ADDRESS:68 to SERVER:67 and exits: `node release-send.js MAC
 * ADDRESS SERVER`. Run by release.ts inside a scratch network namespace that holds the
 * container's interface with the leased address, so the kernel routes and resolves the
 * server as the container would have.
 */
const [mac, address, serverId] = process.argv.slice(2);
if (mac === undefined || address === undefined || serverId === undefined) {
  process.stderr.write('usage: release-send MAC ADDRESS SERVER\n');
  process.exit(2);
}
const packet = buildDhcpRelease({ mac, address, serverId, xid: randomBytes(4).readUInt32BE(0) });
const socket = createSocket('udp4');
const fail = (err: Error): void => {
  process.stderr.write(`DHCPRELEASE not sent: ${err.message}\n`);
  process.exit(1);
};
socket.on('error', fail);
setTimeout(() => fail(new Error('timed out')), 4000).unref();
socket.bind({ address, port: 68 }, () => {
  socket.send(packet, 67, serverId, (err) => {
    if (err) fail(err);
    else socket.close(() => process.exit(0));
  });
});
