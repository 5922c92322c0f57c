import fs from 'node:fs/promises';
import path from 'node:path';
import { HttpApp } from '../util/http.js';
import type { Logger } from '../util/log.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { decode, type NetworkDriver } from '../model/plugin-protocol.js';
import { makePrivateDirAsync } from '../util/private-dir.js';
import { type DriverCapabilities, LOCAL_CAPABILITIES } from '../config/capabilities.js';

/**
 * The HTTP face of the driver on Docker's plugin socket. Docker posts JSON with its own
 * vendor content type (and an empty body for some calls); every reply is JSON, and every
 * failure is `{"Err": "..."}` so that Docker shows the message to the person who typed the command.
 */

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

type Handler = (body: unknown) => Promise<unknown>;

/**
 * Why a call that needs a body can arrive without one. Docker's plugin client resends a call
 * whose connection failed (for up to 30 s), but from the request body the first attempt had
 * already read, i.e. with none (moby/moby#39331). That happens when the daemon died or was
 * restarted while Docker was calling it, and came back within Docker's retries.
 */
export function noBodyError(call: string): DovesnapError {
  return new DovesnapError(
    ErrorCode.BadRequest,
    `${call}: Docker sent this call without its request body, which it does when it resends a call whose first attempt lost its connection (moby/moby#39331), e.g. because dovesnap restarted meanwhile; nothing was done: run the command again`,
  );
}

/** Told of every call: its endpoint (`CreateEndpoint`), whether it succeeded, and how long it took. */
export type CallObserver = (endpoint: string, ok: boolean, seconds: number) => void;

export function buildPluginApp(
  driver: NetworkDriver,
  logger: Logger,
  observe: CallObserver = () => undefined,
  capabilities: DriverCapabilities = LOCAL_CAPABILITIES,
): HttpApp {
  const log = logger.child({ component: 'plugin-api' });
  const app = new HttpApp(log);

  const routes: Record<string, Handler> = {
    '/Plugin.Activate': async () => ({ Implements: ['NetworkDriver'] }),
    '/NetworkDriver.GetCapabilities': async () => ({ ...capabilities }),
    '/NetworkDriver.CreateNetwork': async (b) => {
      await driver.createNetwork(decode.createNetwork(b));
      return {};
    },
    '/NetworkDriver.DeleteNetwork': async (b) => {
      await driver.deleteNetwork(decode.network(b, 'DeleteNetwork'));
      return {};
    },
    // A swarm manager stores the answer as the network's driver state and hands exactly that to
    // every host's CreateNetwork (daemon/cluster/executor/container/container.go): the options
    // go back as they came, or each host would create the network without its `-o` options.
    '/NetworkDriver.AllocateNetwork': async (b) => ({ Options: { ...decode.allocateNetwork(b).Options } }),
    '/NetworkDriver.FreeNetwork': async () => ({}),
    '/NetworkDriver.CreateEndpoint': async (b) => driver.createEndpoint(decode.createEndpoint(b)),
    '/NetworkDriver.EndpointOperInfo': async (b) => driver.endpointOperInfo(decode.endpoint(b, 'EndpointOperInfo')),
    '/NetworkDriver.DeleteEndpoint': async (b) => {
      await driver.deleteEndpoint(decode.endpoint(b, 'DeleteEndpoint'));
      return {};
    },
    '/NetworkDriver.Join': async (b) => driver.join(decode.join(b)),
    '/NetworkDriver.Leave': async (b) => {
      await driver.leave(decode.endpoint(b, 'Leave'));
      return {};
    },
    '/NetworkDriver.DiscoverNew': async () => ({}),
    '/NetworkDriver.DiscoverDelete': async () => ({}),
    '/NetworkDriver.ProgramExternalConnectivity': async (b) => {
      await driver.programExternalConnectivity(decode.endpoint(b, 'ProgramExternalConnectivity'));
      return {};
    },
    '/NetworkDriver.RevokeExternalConnectivity': async (b) => {
      await driver.revokeExternalConnectivity(decode.endpoint(b, 'RevokeExternalConnectivity'));
      return {};
    },
  };

  for (const [url, handler] of Object.entries(routes)) {
    app.post(url, async (req) => {
      const headers = { 'content-type': PLUGIN_CONTENT_TYPE };
      const started = process.hrtime.bigint();
      const endpoint = url.slice(url.lastIndexOf('.') + 1);
      const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        // Docker posts JSON under its own content type, and an empty body for some calls.
        const text = req.body.trim();
        let body: unknown = {};
        if (text !== '') {
          try {
            body = JSON.parse(text) as unknown;
          } catch (err) {
            throw new Error(`request body is not JSON: ${errorMessage(err)}`);
          }
        }
        // A call that needs a body fails its decoding without one, before anything is done.
        const result = await handler(body).catch((err: unknown) => {
          throw text === '' ? noBodyError(endpoint) : err;
        });
        log.debug({ call: url, ms: seconds() * 1000 }, 'handled');
        observe(endpoint, true, seconds());
        return { headers, body: result };
      } catch (err) {
        observe(endpoint, false, seconds());
        log.warn({ call: url, err: errorMessage(err) }, 'request failed');
        return { status: 500, headers, body: { Err: errorMessage(err) } };
      }
    });
  }
  return app;
}

/**
 * Listens on a unix socket, replacing a stale socket file left by a killed daemon.
 *
 * Whoever can connect to the plugin socket can make dovesnap create bridges, veths and FAUCET
 * entries as root: only root may (mode 0600; a directory dovesnap creates is 0700). Docker
 * connects as root.
 *
 * Docker's idle connections are never closed from this side: Docker keeps them with no time
 * limit, and a call it sends on one just as the daemon closes it would fail with EOF and be
 * resent without its body (see noBodyError).
 */
export async function listenOnSocket(app: HttpApp, socketPath: string): Promise<void> {
  await makePrivateDirAsync(path.dirname(socketPath));
  await fs.rm(socketPath, { force: true });
  await app.listen({ path: socketPath }, { idleTimeoutMs: 0 });
  await fs.chmod(socketPath, 0o600);
}
