/**
 * Running the daemon as another user: resolving -u USER[:GROUP] and --group
 * to ids before the launch, the user's environment, and the switch itself
 * for processes that run JavaScript (the fallback launch's intermediate, a
 * supervisor that drops its own privileges).
 */
import { ExitCode, TinydError, usageError } from "./errors";
import type { Credentials } from "./launch/request";
import { groupByName, groupById, groupList, UserDatabaseError, type UserEntry, userById, userByName } from "./posix/users";

/** The daemon's identity, resolved from the user database. */
export interface RunAs {
  /** The user, or the group for --group alone, as given: for messages. */
  display: string;
  /** Credentials for the launch to switch to; null when tinyd already runs as that user and group. */
  credentials: Credentials | null;
  /** The user's entry; null for --group alone and for a numeric uid that has none. */
  entry: UserEntry | null;
  /** Whether a user was given, as opposed to --group alone. */
  hasUser: boolean;
}

/** The largest valid id: (uid_t)-1 itself means "no change" to setreuid(2). */
const MAX_ID = 0xffff_fffe;

function numericId(text: string): number | null {
  if (!/^\d+$/.test(text)) return null;
  const id = Number(text);
  return id <= MAX_ID ? id : null;
}

function databaseError(error: unknown, what: string): never {
  if (error instanceof UserDatabaseError) {
    throw new TinydError("E_NO_USER", `cannot look up ${what} '${error.key}': the user database failed with errno ${error.errno}. Check nsswitch.conf and its services`, ExitCode.OS_ERROR, {
      [what]: error.key,
    });
  }
  throw error;
}

/** Looks a user up by name, then as a numeric uid; a number without an entry is still a valid uid. */
function resolveUser(name: string): { uid: number; entry: UserEntry | null } {
  try {
    const byName = userByName(name);
    if (byName) return { uid: byName.uid, entry: byName };
    const uid = numericId(name);
    if (uid !== null) return { uid, entry: userById(uid) };
  } catch (error) {
    databaseError(error, "user");
  }
  throw new TinydError("E_NO_USER", `unknown user '${name}': the user database has no such user. Check the name with 'getent passwd ${name}'`, ExitCode.NO_USER, {
    user: name,
  });
}

function resolveGroup(name: string): number {
  try {
    const byName = groupByName(name);
    if (byName) return byName.gid;
    const gid = numericId(name);
    if (gid !== null) return groupById(gid)?.gid ?? gid;
  } catch (error) {
    databaseError(error, "group");
  }
  throw new TinydError("E_NO_USER", `unknown group '${name}': the group database has no such group. Check the name with 'getent group ${name}'`, ExitCode.NO_USER, {
    group: name,
  });
}

/** Splits USER[:GROUP]; user names cannot contain ':', because it separates the fields of passwd(5). */
function splitUserSpec(spec: string): { user: string; group: string | undefined } {
  const at = spec.indexOf(":");
  const user = at < 0 ? spec : spec.slice(0, at);
  const group = at < 0 ? undefined : spec.slice(at + 1);
  if (user === "" || group === "") throw usageError(`invalid user '${spec}': expected USER or USER:GROUP, by name or numeric id`, { user: spec });
  return { user, group };
}

function notPermitted(message: string, details: Record<string, unknown>): TinydError {
  return new TinydError("E_PERMISSION", message, ExitCode.NO_PERMISSION, details);
}

/**
 * Resolves -u USER[:GROUP] and --group to ids. Returns null when neither is
 * given. Throws E_NO_USER (exit 67) for an unknown user or group, and
 * E_PERMISSION (exit 77) when tinyd is not root and the request is not its
 * own user and group.
 */
export function resolveRunAs(userSpec: string | undefined, groupOption: string | undefined): RunAs | null {
  if (userSpec === undefined && groupOption === undefined) return null;
  if (groupOption === "") throw usageError("invalid group '': expected a group name or numeric id", { group: groupOption });
  const split = userSpec === undefined ? null : splitUserSpec(userSpec);
  if (split?.group !== undefined && groupOption !== undefined) {
    throw usageError(`-u ${userSpec} and --group ${groupOption} both name the group: give it in one place`);
  }

  const groupName = split?.group ?? groupOption;
  const user = split ? resolveUser(split.user) : null;
  const explicitGid = groupName === undefined ? null : resolveGroup(groupName);
  const gid = explicitGid ?? user?.entry?.gid;
  if (gid === undefined) {
    throw new TinydError(
      "E_NO_USER",
      `user id ${split!.user} has no entry in the user database, so it has no primary group: give one, as in -u ${split!.user}:GROUP`,
      ExitCode.NO_USER,
      { user: split!.user },
    );
  }

  // A group given explicitly is the only group. Otherwise the supplementary
  // groups are the user's memberships in the group database, as initgroups(3)
  // finds them, less the primary group, which setgid() sets: a user without
  // memberships gets an empty list.
  let groups: number[];
  try {
    if (explicitGid !== null) groups = [gid];
    else if (user?.entry) groups = groupList(user.entry.name, gid).filter((member) => member !== gid);
    else groups = [];
  } catch (error) {
    databaseError(error, "user");
  }

  const display = split?.user ?? groupName!;
  const runAs: RunAs = { display, entry: user?.entry ?? null, hasUser: user !== null, credentials: { uid: user?.uid ?? null, gid, groups } };
  return process.geteuid?.() === 0 ? runAs : { ...runAs, credentials: checkUnprivileged(runAs, explicitGid) };
}

/**
 * Without root tinyd cannot change its ids, so it accepts only its own user
 * and group and then changes nothing. The supplementary groups stay as they
 * are, because only root may set them.
 */
function checkUnprivileged(runAs: RunAs, explicitGid: number | null): null {
  const euid = process.geteuid!();
  const uid = runAs.credentials!.uid;
  if (uid !== null && (uid !== euid || uid !== process.getuid!())) {
    throw notPermitted(`cannot run as user '${runAs.display}': only root can switch users, and tinyd runs as uid ${euid}. Run tinyd as root, or leave out -u`, {
      user: runAs.display,
    });
  }
  const egid = process.getegid!();
  if (explicitGid !== null && (explicitGid !== egid || explicitGid !== process.getgid!())) {
    throw notPermitted(`cannot run with group ${explicitGid}: only root can switch groups, and tinyd runs as gid ${egid}. Run tinyd as root, or leave out the group`, {
      group: explicitGid,
    });
  }
  return null;
}

/** The variables that login(1) takes from the user's entry, and that --keep-env keeps from the launcher instead. */
export const USER_VARIABLES = ["HOME", "USER", "LOGNAME", "SHELL"] as const;

/**
 * Returns the user's HOME, USER, LOGNAME and SHELL from its entry, with the
 * defaults of login(1) for empty fields. For a numeric uid without an entry
 * each of them is null, which removes it: the launcher's values would name
 * another user.
 */
export function userEnvironment(runAs: RunAs): [string, string | null][] {
  if (!runAs.hasUser) return [];
  const entry = runAs.entry;
  if (entry === null) return USER_VARIABLES.map((name) => [name, null]);
  return [
    ["HOME", entry.home || "/"],
    ["USER", entry.name],
    ["LOGNAME", entry.name],
    ["SHELL", entry.shell || "/bin/sh"],
  ];
}

/** A failed switch of credentials, with the call that failed. */
export class CredentialsError extends Error {
  override name = "CredentialsError";
  constructor(
    /** "setgroups", "setgid", "setuid", or "regain" when setuid(0) succeeded afterwards. */
    readonly call: "setgroups" | "setgid" | "setuid" | "regain",
    /** Positive errno; 0 for "regain". */
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

function attempt(call: "setgroups" | "setgid" | "setuid", action: () => void): void {
  try {
    action();
  } catch (error) {
    // Bun 1.4.5 names the call "setgid" in the error of process.setgroups(), so the name comes from here.
    const errno = Math.abs(Number((error as { errno?: number }).errno ?? 0)) || 0;
    throw new CredentialsError(call, errno, `${call} failed: ${(error as Error).message}`);
  }
}

/**
 * Switches the calling process to `credentials`, in the same order as the
 * native launch: setgroups, setgid, setuid, then a check that setuid(0)
 * fails. Bun applies each call to every thread of the process. Throws
 * CredentialsError.
 */
export function switchCredentials(credentials: Credentials): void {
  attempt("setgroups", () => process.setgroups!(credentials.groups));
  attempt("setgid", () => process.setgid!(credentials.gid));
  const uid = credentials.uid;
  if (uid === null) return;
  attempt("setuid", () => process.setuid!(uid));

  if (uid === 0) return;
  let regained = false;
  try {
    process.setuid!(0);
    regained = true;
  } catch {
    // Expected: the saved set-user-id is no longer 0.
  }
  if (regained) throw new CredentialsError("regain", 0, `setuid(0) succeeded after the switch to uid ${uid}`);
}
