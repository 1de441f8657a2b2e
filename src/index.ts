/**
 * tinyd as a module: start, inspect, signal and stop daemons from Bun.
 *
 *     import { spawnDaemon, stopDaemon } from "tinyd";
 *     const { pid } = await spawnDaemon(["./server", "--port", "8080"], { pidfile: "/run/app.pid" });
 *
 * A Bun script can also turn itself into a daemon with daemonize() or
 * runDaemon(), and report readiness with notify().
 */
export { daemonStatus, type DaemonState, type DaemonStatus, signalDaemon, StatusCode, stopDaemon, type StopOptions, type StopResult } from "./control";
export { type ErrorCode, ExitCode, TinydError } from "./errors";
export { LAUNCH_ENV, type LaunchMethod } from "./launch";
export type { DaemonOptions } from "./options";
export { type PidfileState, readPidfile } from "./pidfile";
export { spawnDaemon, type StartedDaemon } from "./start";
export { VERSION } from "./version";
export { type Daemon, daemonize, type DaemonizeOptions, runDaemon, type RunDaemonOptions } from "./daemonize";
export { type NotifyFields, type NotifyState, notify } from "./readiness/notify";
