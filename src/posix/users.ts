/**
 * The system's user and group databases, read through libc's reentrant
 * look-ups (getpwnam_r, getgrnam_r, getgrouplist), so that every NSS source
 * works (LDAP, sssd, systemd-userdb), not only /etc/passwd.
 *
 * These calls may load NSS modules, open sockets and take locks, so they run
 * only in a process that goes on running JavaScript, never between fork and
 * exec: the launch resolves users here and hands plain ids to the C.
 */
import { CString, dlopen, FFIType, type Pointer, ptr, read } from "bun:ffi";
import { constants } from "./constants";

/** An entry of the user database (passwd(5)). */
export interface UserEntry {
  name: string;
  uid: number;
  /** The user's primary group. */
  gid: number;
  /** The home directory; may be empty. */
  home: string;
  /** The login shell; may be empty. */
  shell: string;
}

/** An entry of the group database (group(5)). */
export interface GroupEntry {
  name: string;
  gid: number;
}

/** Byte offsets of the fields tinyd reads in struct passwd and struct group. */
interface EntryLayout {
  passwdSize: number;
  pwName: number;
  pwUid: number;
  pwGid: number;
  pwDir: number;
  pwShell: number;
  groupSize: number;
  grName: number;
  grGid: number;
}

/** glibc and musl on x86-64 and arm64: name, passwd, uid, gid, gecos, dir, shell. */
const linuxLayout: EntryLayout = { passwdSize: 48, pwName: 0, pwUid: 16, pwGid: 20, pwDir: 32, pwShell: 40, groupSize: 32, grName: 0, grGid: 16 };

/** macOS and FreeBSD put pw_change and pw_class before pw_gecos, and pw_expire (FreeBSD also pw_fields) after pw_shell. */
const bsdLayout: EntryLayout = { passwdSize: 80, pwName: 0, pwUid: 16, pwGid: 20, pwDir: 48, pwShell: 56, groupSize: 32, grName: 0, grGid: 16 };

const layout: EntryLayout = process.platform === "linux" ? linuxLayout : bsdLayout;

/** getpwnam_r and getgrnam_r report a buffer too small with ERANGE; grow it up to this size. */
const MAX_BUFFER_BYTES = 1 << 20;
const FIRST_BUFFER_BYTES = 4096;
const ENOENT = 2;
const ESRCH = 3;
const ERANGE = 34;

function openDatabase() {
  const lookup = { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 } as const;
  const lookupById = { args: [FFIType.u32, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 } as const;
  return dlopen(constants.libc, {
    getpwnam_r: lookup,
    getpwuid_r: lookupById,
    getgrnam_r: lookup,
    getgrgid_r: lookupById,
    getgrouplist: { args: [FFIType.ptr, FFIType.u32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  }).symbols;
}

let database: ReturnType<typeof openDatabase> | undefined;

function symbols(): ReturnType<typeof openDatabase> {
  database ??= openDatabase();
  return database;
}

/** A failed look-up, as opposed to an entry that does not exist. */
export class UserDatabaseError extends Error {
  override name = "UserDatabaseError";
  constructor(
    readonly key: string,
    readonly errno: number,
  ) {
    super(`user database look-up of '${key}' failed with errno ${errno}`);
  }
}

function readString(address: number | bigint): string {
  const pointer = Number(address);
  return pointer === 0 ? "" : new CString(pointer as Pointer).toString();
}

/** A filled struct and the buffer its strings point into, which must stay reachable while they are read. */
interface Filled {
  struct: Uint8Array;
  strings: Uint8Array;
}

/**
 * Runs one of the *_r look-ups, growing the string buffer on ERANGE.
 * Returns null when the database has no entry for the key.
 */
function lookup(key: string, structSize: number, call: (entry: Pointer, buffer: Pointer, size: number, result: Pointer) => number): Filled | null {
  const entry = new Uint8Array(structSize);
  const result = new BigUint64Array(1);
  for (let size = FIRST_BUFFER_BYTES; ; size *= 2) {
    const strings = new Uint8Array(size);
    const status = call(ptr(entry), ptr(strings), size, ptr(result));
    if (status === ERANGE && size < MAX_BUFFER_BYTES) continue;
    // POSIX reports "no such entry" as 0 with a null result, but glibc's
    // manual lists ENOENT and ESRCH from some NSS modules for it too.
    if (status !== 0 && status !== ENOENT && status !== ESRCH) throw new UserDatabaseError(key, status);
    if (status !== 0 || result[0] === 0n) return null;
    return { struct: entry, strings };
  }
}

function userAt({ struct, strings }: Filled): UserEntry {
  const entry = ptr(struct);
  const user = {
    name: readString(read.ptr(entry, layout.pwName)),
    uid: read.u32(entry, layout.pwUid),
    gid: read.u32(entry, layout.pwGid),
    home: readString(read.ptr(entry, layout.pwDir)),
    shell: readString(read.ptr(entry, layout.pwShell)),
  };
  void [struct, strings];
  return user;
}

function groupAt({ struct, strings }: Filled): GroupEntry {
  const entry = ptr(struct);
  const group = { name: readString(read.ptr(entry, layout.grName)), gid: read.u32(entry, layout.grGid) };
  void [struct, strings];
  return group;
}

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

/** Looks a user up by name; returns null when the database has no such user. */
export function userByName(name: string): UserEntry | null {
  const key = cString(name);
  const entry = lookup(name, layout.passwdSize, (e, b, s, r) => symbols().getpwnam_r(ptr(key), e, b, s, r));
  return entry === null ? null : userAt(entry);
}

/** Looks a user up by uid; returns null when the database has no such user. */
export function userById(uid: number): UserEntry | null {
  const entry = lookup(String(uid), layout.passwdSize, (e, b, s, r) => symbols().getpwuid_r(uid, e, b, s, r));
  return entry === null ? null : userAt(entry);
}

/** Looks a group up by name; returns null when the database has no such group. */
export function groupByName(name: string): GroupEntry | null {
  const key = cString(name);
  const entry = lookup(name, layout.groupSize, (e, b, s, r) => symbols().getgrnam_r(ptr(key), e, b, s, r));
  return entry === null ? null : groupAt(entry);
}

/** Looks a group up by gid; returns null when the database has no such group. */
export function groupById(gid: number): GroupEntry | null {
  const entry = lookup(String(gid), layout.groupSize, (e, b, s, r) => symbols().getgrgid_r(gid, e, b, s, r));
  return entry === null ? null : groupAt(entry);
}

/** getgrouplist(3) may need more room than the first guess; more than this many groups is an error. */
const MAX_GROUPS = 65536;

/**
 * Lists the groups that initgroups(3) would give `user`: `primaryGid` and
 * every group that names the user as a member, without duplicates.
 */
export function groupList(user: string, primaryGid: number): number[] {
  const key = cString(user);
  const count = new Int32Array(1);
  for (let capacity = 64; capacity <= MAX_GROUPS; capacity *= 4) {
    const groups = new Uint32Array(capacity);
    count[0] = capacity;
    // On a short array glibc returns -1 with the needed count, but macOS
    // returns -1 with the count it filled. So the loop grows until the call succeeds.
    if (symbols().getgrouplist(ptr(key), primaryGid, ptr(groups), ptr(count)) >= 0) {
      return [...new Set(groups.subarray(0, count[0]))];
    }
  }
  throw new UserDatabaseError(user, ERANGE);
}
