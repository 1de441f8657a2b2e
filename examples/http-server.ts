/**
 * A web server that turns itself into a daemon and reports ready once it
 * listens, so that the command that started it returns only when
 * connections succeed.
 *
 *     bun examples/http-server.ts --pidfile /tmp/web.pid --port 8080
 *     curl http://127.0.0.1:8080/
 *     tinyd stop -p /tmp/web.pid
 *
 * On SIGTERM it stops accepting connections, finishes the open requests,
 * removes its pidfile and exits 0.
 */
import { parseArgs } from "node:util";
import { daemonize } from "tinyd";

const { values } = parseArgs({
  options: {
    pidfile: { type: "string" },
    port: { type: "string", default: "8080" },
    log: { type: "string" },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`http-server: invalid --port '${values.port}': expected a port number from 1 to 65535`);
  process.exit(64);
}

// Everything above runs twice: in this process and again in the daemon.
const daemon = await daemonize({ pidfile: values.pidfile, output: values.log, ready: "manual" });

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch() {
    return new Response(`hello from pid ${process.pid}\n`);
  },
});

daemon.onStop(async () => {
  await server.stop();
  console.log("stopped");
});

console.log(`listening on ${server.url}`);
daemon.ready(`listening on ${server.url}`);
