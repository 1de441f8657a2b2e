/**
 * Unix datagram sockets, which neither node:dgram nor Bun's socket APIs
 * offer. sd_notify(3) readiness needs them on both ends.
 */
import { constants } from "./constants";
import { close, PosixError, poll, recv, sendto, setCloseOnExec, setNonBlocking, socket } from "./libc";

/**
 * Encodes a sockaddr_un for `path`. A path that starts with "@" names a
 * socket in Linux's abstract namespace, as NOTIFY_SOCKET may.
 *
 * Linux lays it out as a 16-bit sun_family and then sun_path (108 bytes).
 * macOS and FreeBSD start with a one-byte sun_len and a one-byte sun_family,
 * then sun_path (104 bytes). Every supported platform is little-endian.
 */
export function unixAddress(path: string): Uint8Array {
  const abstract = path.startsWith("@");
  if (abstract && process.platform !== "linux") throw new RangeError(`invalid socket address '${path}': abstract sockets exist only on Linux`);
  const name = Buffer.from(abstract ? `\0${path.slice(1)}` : path);
  // A path needs its terminating NUL inside sun_path, an abstract name does not.
  const room = abstract ? constants.SUN_PATH_BYTES : constants.SUN_PATH_BYTES - 1;
  if (name.length === 0 || name.length > room || (!abstract && name.includes(0))) {
    throw new RangeError(`invalid socket path '${path}': expected 1 to ${room} bytes without NUL`);
  }

  const length = 2 + name.length + (abstract ? 0 : 1);
  const address = new Uint8Array(length);
  if (constants.SUN_LEN_FIELD) {
    address[0] = length;
    address[1] = constants.AF_UNIX;
  } else {
    new DataView(address.buffer).setUint16(0, constants.AF_UNIX, true);
  }
  address.set(name, 2);
  return address;
}

/** Creates a Unix datagram socket, close-on-exec, and non-blocking when asked. */
export function openDatagramSocket(nonBlocking: boolean): number {
  const flags = constants.SOCK_CLOEXEC | (nonBlocking ? constants.SOCK_NONBLOCK : 0);
  const fd = socket(constants.AF_UNIX, constants.SOCK_DGRAM | flags);
  try {
    if (constants.SOCK_CLOEXEC === 0) setCloseOnExec(fd);
    if (nonBlocking && constants.SOCK_NONBLOCK === 0) setNonBlocking(fd);
  } catch (error) {
    close(fd);
    throw error;
  }
  return fd;
}

/** Sends one datagram to the socket at `path` from a socket of its own. */
export function sendDatagram(path: string, data: Uint8Array): void {
  const address = unixAddress(path);
  const fd = openDatagramSocket(false);
  try {
    sendto(fd, data, address);
  } finally {
    close(fd);
  }
}

/**
 * Receives the next queued datagram from a non-blocking socket, or returns
 * null when none is queued.
 */
export function receiveDatagram(fd: number, buffer: Uint8Array): Uint8Array | null {
  // poll first: where the call cannot report errno, EAGAIN would look like any failure.
  if ((poll(fd, constants.POLLIN, 0) & constants.POLLIN) === 0) return null;
  try {
    const length = recv(fd, buffer);
    return buffer.slice(0, length);
  } catch (error) {
    if (error instanceof PosixError && (error.code === "EAGAIN" || error.code === "EWOULDBLOCK" || error.code === "EINTR")) return null;
    throw error;
  }
}
