import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from './log.js';

/**
 * A fastify app logging through the daemon's logger. Per-request lines are off: Docker calls
 * the plugin many times per container and the handlers log what matters themselves.
 */
export function createHttpApp(logger: Logger, component: string): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = logger.child({ component });
  return Fastify({ loggerInstance, logController: new LogController({ disableRequestLogging: true }) });
}
