/**
 * A batch job that runs in the background with runDaemon(): it refuses to
 * start while another instance has the pidfile locked, appends one line per
 * step to a results file, and removes the pidfile when it is done.
 *
 *     bun examples/worker.ts --pidfile /tmp/worker.pid --results /tmp/worker.out --steps 5
 *     tinyd status -p /tmp/worker.pid
 */
import { appendFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { runDaemon } from "tinyd";

const { values } = parseArgs({
  options: {
    pidfile: { type: "string" },
    results: { type: "string" },
    steps: { type: "string", default: "5" },
    "interval-ms": { type: "string", default: "200" },
  },
});
const steps = Number(values.steps);
const intervalMs = Number(values["interval-ms"]);
if (values.pidfile === undefined || values.results === undefined || !Number.isInteger(steps) || steps < 0 || !(intervalMs >= 0)) {
  console.error("usage: worker --pidfile FILE --results FILE [--steps N] [--interval-ms MS]");
  process.exit(64);
}
// The daemon changes to / inside runDaemon(), so relative paths are resolved first.
const results = resolve(values.results);

await runDaemon(
  async (daemon) => {
    for (let step = 1; step <= steps; step++) {
      daemon.notify(`step ${step} of ${steps}`);
      appendFileSync(results, `step ${step} done by pid ${daemon.pid}\n`);
      await Bun.sleep(intervalMs);
    }
    return 0;
  },
  { pidfile: values.pidfile },
);
