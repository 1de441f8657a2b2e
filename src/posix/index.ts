/**
 * The typed libc bindings that tinyd itself uses, for programs that need the
 * raw calls.
 *
 * A failed call throws PosixError, which carries errno, its symbolic name
 * (`code`, such as "EPERM") and the system's message. Where bun:ffi has no
 * compiler (Bun's FreeBSD build) the calls go to libc directly and a failure
 * carries errno 0, because errno cannot be read back from JavaScript there.
 *
 *     import { getrlimit, PosixError, setsid } from "tinyd/posix";
 *     const { soft } = getrlimit("NOFILE");
 */
export { constants, type PlatformConstants, type ResourceName } from "./constants";
export {
  bind,
  close,
  dup2,
  errnoName,
  type ExitStatus,
  fcntl,
  flock,
  getpgid,
  getpid,
  getrlimit,
  getsid,
  kill,
  monotonicNanoseconds,
  pipe,
  poll,
  PosixError,
  read,
  reapChild,
  recv,
  type ResourceLimit,
  sendto,
  setCloseOnExec,
  setNonBlocking,
  setProcessName,
  setrlimit,
  setsid,
  sigprocmask,
  socket,
  socketpair,
  strerror,
  umask,
  unblockAllSignals,
  write,
} from "./libc";
export { openDatagramSocket, receiveDatagram, sendDatagram, unixAddress } from "./socket";
export { type GroupEntry, groupById, groupByName, groupList, UserDatabaseError, type UserEntry, userById, userByName } from "./users";
export { chroot } from "./resources";
