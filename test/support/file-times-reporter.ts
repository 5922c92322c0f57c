import { FileTimes, formatFileTimes, type RunnerEvent } from './file-times.js';

/**
 * A `node --test` reporter (--test-reporter=dist/test/support/file-times-reporter.js) that
 * prints only the per-file time table, at the end; scripts/run-tests.sh runs it beside TAP.
 */
export default async function* fileTimesReporter(source: AsyncIterable<RunnerEvent>): AsyncGenerator<string> {
  const times = new FileTimes();
  for await (const event of source) times.observe(event, Date.now());
  yield formatFileTimes(times.finish(Date.now()), `${process.cwd()}/`);
}
