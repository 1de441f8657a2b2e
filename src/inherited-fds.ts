/**
 * The descriptors that tinyd inherited from its caller, for --no-close.
 *
 * Bun marks every inherited descriptor close-on-exec when it starts, so
 * --no-close must find them and clear the flag again in the daemon.
 */
import { readdirSync, readlinkSync } from "node:fs";

/**
 * Lists open descriptors above 2, except those the runtime created for
 * itself. Call it before tinyd opens any file of its own.
 *
 * On Linux the runtime's own descriptors are the anonymous inodes of its event
 * loop (eventpoll, eventfd, timerfd). On macOS and FreeBSD its kqueue is not
 * inherited across fork, so every listed descriptor counts.
 * NOTE: an anonymous-inode descriptor that the caller passed on purpose (an
 * eventfd, say) is not kept on Linux.
 */
export function inheritedFds(): number[] {
  const linux = process.platform === "linux";
  const directory = linux ? "/proc/self/fd" : "/dev/fd";
  const fds: number[] = [];
  for (const name of readdirSync(directory)) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    if (linux) {
      let target: string;
      try {
        target = readlinkSync(`${directory}/${fd}`);
      } catch {
        // The directory listing's own descriptor, closed by now.
        continue;
      }
      if (target.startsWith("anon_inode:")) continue;
    }
    fds.push(fd);
  }
  return fds;
}
