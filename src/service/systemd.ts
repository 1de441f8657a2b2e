/**
 * A systemd service unit that starts the daemon with tinyd.
 *
 * tinyd detaches and exits once the daemon has exec'd and its pid is in the
 * pidfile, which is what Type=forking with PIDFile= expects. With
 * --foreground tinyd execs the command in its own place, so the unit is
 * Type=exec and systemd learns the main pid without a pidfile.
 *
 * With readiness (--wait-ready, --notify-fd), tinyd exits only once the
 * daemon is ready, so a Type=forking unit is started exactly then, whichever
 * protocol the daemon speaks. With --foreground as well, tinyd cannot wait,
 * but the daemon inherits systemd's NOTIFY_SOCKET and keeps the main pid,
 * so the unit is Type=notify and systemd takes READY=1 from the daemon
 * itself.
 */
import { usageError } from "../errors";
import { systemdQuote, systemdSpecifiers } from "./quote";
import { optionWords, type PassedOption, type ServiceReadiness, type ServiceSpec } from "./spec";

/**
 * Seconds that a Type=forking unit allows beyond tinyd's own readiness
 * timeout. After it, tinyd stops the daemon and exits within 30 s: a plain
 * start sends SIGKILL 2 s after SIGTERM, and a launcher waits at most 30 s
 * for its supervisor's report. The other 5 s cover tinyd's start-up.
 */
const FORKING_START_ALLOWANCE_SECONDS = 35;

function commandLine(words: readonly string[]): string {
  return words.map(systemdQuote).join(" ");
}

/** Returns a TimeoutStartSec= value: whole seconds, rounded up, or infinity for no limit. */
function startTimeout(seconds: number | null): string {
  return seconds === null ? "infinity" : String(Math.ceil(seconds));
}

/**
 * Rejects what cannot work when the daemon reports to systemd itself: a
 * pipe that only tinyd could read, or a NOTIFY_SOCKET that the daemon would
 * not get (--clear-env) or could not reach (--chroot).
 */
function checkNotifyUnit(spec: ServiceSpec, readiness: ServiceReadiness): void {
  const hasOption = (name: string) => spec.options.some((option) => option.name === name);
  if (readiness.notifyFd !== null) {
    throw usageError(
      "--notify-fd needs tinyd to wait for the daemon, which it does not with -F: drop -F for a Type=forking unit in which tinyd waits, or drop --notify-fd for a Type=notify unit",
    );
  }
  if (hasOption("clear-env")) {
    throw usageError("--clear-env removes the NOTIFY_SOCKET that a Type=notify unit gives the daemon under -F: drop --clear-env, or drop -F for a Type=forking unit in which tinyd waits");
  }
  if (hasOption("chroot")) {
    throw usageError("systemd's NOTIFY_SOCKET lies outside the --chroot root, where the daemon cannot reach it under -F: drop -F and let the daemon report through --notify-fd");
  }
}

export function systemdUnit(spec: ServiceSpec): string {
  const readiness = spec.readiness;
  const pidfileWords = spec.pidfile === null ? [] : ["--pidfile", spec.pidfile];
  // tinyd -F rejects --wait-ready, since systemd does the waiting in a Type=notify unit.
  const passed: PassedOption[] = spec.foreground ? spec.options.filter((option) => option.name !== "wait-ready") : spec.options;
  const start = [spec.tinyd, ...(spec.foreground ? ["--foreground"] : []), ...pidfileWords, ...optionWords(passed, "long"), "--", ...spec.command];

  const service: string[] = [];
  if (spec.foreground && readiness !== null) {
    checkNotifyUnit(spec, readiness);
    service.push(
      "Type=notify",
      // tinyd takes READY=1 from any of the daemon's processes, such as a systemd-notify run by a script, and NotifyAccess=all does so within the unit.
      "NotifyAccess=all",
      `TimeoutStartSec=${startTimeout(readiness.timeoutSeconds)}`,
      `ExecStart=${commandLine(start)}`,
      "ExecReload=/bin/kill -HUP $MAINPID",
    );
  } else if (spec.foreground) {
    service.push("Type=exec", `ExecStart=${commandLine(start)}`, "ExecReload=/bin/kill -HUP $MAINPID");
  } else {
    service.push("Type=forking", `PIDFile=${systemdSpecifiers(spec.mainPidfile!)}`);
    if (readiness !== null) {
      // NOTE: EXTEND_TIMEOUT_USEC= reaches tinyd, not systemd, so it cannot extend the start beyond this.
      const seconds = readiness.timeoutSeconds === null ? null : readiness.timeoutSeconds + FORKING_START_ALLOWANCE_SECONDS;
      service.push(`TimeoutStartSec=${startTimeout(seconds)}`);
    }
    service.push(`ExecStart=${commandLine(start)}`, `ExecReload=${commandLine([spec.tinyd, "reload", "--pidfile", spec.mainPidfile!])}`);
  }

  return [
    `# Written by tinyd ${spec.version}: tinyd service systemd ${spec.name}`,
    `# Install it as /etc/systemd/system/${spec.name}.service, then run: systemctl daemon-reload && systemctl enable --now ${spec.name}`,
    "",
    "[Unit]",
    `Description=${systemdSpecifiers(spec.description)}`,
    "After=network.target",
    "",
    "[Service]",
    ...service,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
