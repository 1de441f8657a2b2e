/**
 * A syslog client for the local socket (/dev/log on Linux, /var/run/syslog
 * on macOS), in the RFC 3164 local format that syslog(3) itself sends:
 * "<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE".
 *
 * Each line goes out with sendto(2) to the socket's path, so a syslog daemon
 * that restarts and recreates its socket is picked up by the next line.
 */
import { close, sendto } from "../posix/libc";
import { openDatagramSocket, unixAddress } from "../posix/socket";
import type { SyslogSettings } from "./config";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Formats the local time as RFC 3164 does: "Dec  4 20:11:26", with the day padded by a space. */
export function syslogTimestamp(date: Date): string {
  const day = String(date.getDate()).padStart(2, " ");
  const time = [date.getHours(), date.getMinutes(), date.getSeconds()].map((part) => String(part).padStart(2, "0")).join(":");
  return `${MONTHS[date.getMonth()]} ${day} ${time}`;
}

/** Maximum size of one datagram in bytes; a longer line is cut. Common syslog daemons accept 8 KiB or more. */
const MAX_MESSAGE_BYTES = 8192;

export class SyslogClient {
  private readonly fd: number;
  private readonly address: Uint8Array;
  /** Lines dropped since the last one that went through, reported with the next success. */
  private dropped = 0;

  constructor(
    private readonly settings: SyslogSettings,
    private readonly pid: number,
  ) {
    this.fd = openDatagramSocket(false);
    this.address = unixAddress(settings.socket);
  }

  /** Sends one line with the given severity. Returns false when the socket refused it. */
  send(severity: number, message: string | Uint8Array): boolean {
    const priority = this.settings.facility * 8 + severity;
    const header = `<${priority}>${syslogTimestamp(new Date())} ${this.settings.tag}[${this.pid}]: `;
    // Bytes pass unchanged: a line that is not UTF-8 is not re-encoded.
    let data = Buffer.concat([Buffer.from(header), typeof message === "string" ? Buffer.from(message) : message]);
    if (data.length > MAX_MESSAGE_BYTES) data = data.subarray(0, MAX_MESSAGE_BYTES);
    try {
      sendto(this.fd, data, this.address);
    } catch {
      // NOTE: lines sent while no syslog daemon listens are lost; the count
      // of them goes out with the next line that gets through.
      this.dropped += 1;
      return false;
    }
    if (this.dropped > 0) {
      const count = this.dropped;
      this.dropped = 0;
      this.send(4, `tinyd: ${count} lines were lost while ${this.settings.socket} did not accept them`);
    }
    return true;
  }

  close(): void {
    close(this.fd);
  }
}
