/** Signal names and numbers of the running platform. */
import { constants as osConstants } from "node:os";
import { usageError } from "./errors";

const numbers = osConstants.signals as Record<string, number>;

/**
 * Parses a signal given as a number, a name ("TERM", "SIGTERM", any case) or
 * a name with "SIG" left off. Throws E_USAGE naming the value otherwise.
 */
export function parseSignal(value: string | number): number {
  if (typeof value === "number" || /^\d+$/.test(value)) {
    const number = Number(value);
    if (Number.isInteger(number) && Object.values(numbers).includes(number)) return number;
    if (number === 0) return 0;
    throw usageError(`invalid signal '${value}': no such signal number on ${process.platform}. Use a name such as TERM or HUP`, { signal: value });
  }
  const upper = value.toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  const number = numbers[name];
  if (number === undefined) {
    throw usageError(`invalid signal '${value}': unknown signal name. Use a name such as TERM or HUP, or a number`, { signal: value });
  }
  return number;
}

/** Returns "SIGTERM" for 15, or the number as text when it has no name. */
export function signalName(number: number): string {
  for (const [name, value] of Object.entries(numbers)) {
    // SIGIOT and SIGPOLL are aliases; the first entry is the usual name.
    if (value === number) return name;
  }
  return String(number);
}
