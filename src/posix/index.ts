/**
 * The typed libc bindings that tinyd itself uses, for programs that need the
 * raw calls. Failures throw PosixError with errno and its name.
 */
export { constants, type PlatformConstants } from "./constants";
export {
  dup2,
  errnoName,
  type ExitStatus,
  flock,
  getpgid,
  getpid,
  getsid,
  kill,
  pipe,
  PosixError,
  reapChild,
  setProcessName,
  setsid,
  strerror,
  umask,
  unblockAllSignals,
} from "./libc";
export { type GroupEntry, groupById, groupByName, groupList, UserDatabaseError, type UserEntry, userById, userByName } from "./users";
export { chroot, getrlimit, type Rlimit, setrlimit } from "./resources";
export type { ResourceName } from "./constants";
