/**
 * The listening end of systemd's readiness protocol, sd_notify(3): a Unix
 * datagram socket whose path the daemon finds in NOTIFY_SOCKET. Each
 * datagram contains newline-separated KEY=VALUE assignments, such as
 * "READY=1\nSTATUS=listening on :80".
 */
import { chmodSync, chownSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bind, close } from "../posix/libc";
import { openDatagramSocket, receiveDatagram, unixAddress } from "../posix/socket";

export { NOTIFY_SOCKET_ENV } from "./variables";

/** systemd's own receive buffer is this size too; a longer datagram is cut. */
const MAX_DATAGRAM_BYTES = 4096;
const SOCKET_MODE = 0o600;
const SOCKET_NAME = "notify";

/**
 * Parses one datagram into its assignments. Lines without "=" are skipped,
 * as systemd skips them, and a later assignment of a key wins.
 */
export function parseNotifyMessage(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

/** Owner to give the socket when the daemon runs as another user than the listener. */
export interface SocketOwner {
  uid: number;
  gid: number;
}

export class NotifySocket {
  private readonly buffer = new Uint8Array(MAX_DATAGRAM_BYTES);
  private fd: number;

  private constructor(
    /** Path to pass as NOTIFY_SOCKET. */
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Binds a socket named "notify" in `directory`, which the caller created
   * private (mode 0700). The socket gets mode 0600, and with `owner` both
   * belong to that user, so that only the daemon's user can send to it.
   */
  static bind(directory: string, owner?: SocketOwner): NotifySocket {
    const path = join(directory, SOCKET_NAME);
    const address = unixAddress(path);
    const fd = openDatagramSocket(true);
    try {
      bind(fd, address);
      // bind() creates the file with the umask's mode, but the private directory keeps others out meanwhile.
      chmodSync(path, SOCKET_MODE);
      if (owner) {
        chownSync(path, owner.uid, owner.gid);
        chownSync(directory, owner.uid, owner.gid);
      }
    } catch (error) {
      close(fd);
      rmSync(path, { force: true });
      throw error;
    }
    return new NotifySocket(path, fd);
  }

  /** Returns the messages queued since the last call, oldest first, without waiting. */
  receive(): Map<string, string>[] {
    const messages: Map<string, string>[] = [];
    if (this.fd < 0) return messages;
    for (;;) {
      const datagram = receiveDatagram(this.fd, this.buffer);
      if (datagram === null) return messages;
      messages.push(parseNotifyMessage(Buffer.from(datagram).toString("utf8")));
    }
  }

  /** Closes the socket and removes its file, so that later senders get ENOENT. */
  close(): void {
    if (this.fd < 0) return;
    close(this.fd);
    this.fd = -1;
    rmSync(this.path, { force: true });
  }
}
