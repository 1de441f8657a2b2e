/**
 * Paths inside a chroot, checked from outside it before the launch.
 *
 * After chroot(2) the kernel resolves every path of the daemon inside the
 * new root: an absolute symbolic link starts again at the root, and ".."
 * stops there. The host's view of the same path can differ (a root made by
 * debootstrap is full of absolute links such as /etc/alternatives/*), so
 * the checks here follow links the way the kernel will inside the root.
 */
import { accessSync, constants as fs, lstatSync, readlinkSync, statSync } from "node:fs";
import { posix, resolve } from "node:path";
import { ExitCode, TinydError, usageError } from "./errors";

/** The kernel gives up after 40 links in one path (MAXSYMLINKS on Linux). */
const MAX_SYMLINKS = 40;

function components(path: string): string[] {
  return path.split("/").filter((part) => part !== "" && part !== ".");
}

/**
 * Returns the host path of `inside` (an absolute path in the chroot),
 * with every link resolved inside the root, or null when a component is
 * missing or the path loops.
 */
export function hostPath(root: string, inside: string): string | null {
  const resolved: string[] = [];
  let pending = components(inside);
  let links = 0;

  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = posix.join(root, ...resolved, part);
    let stat;
    try {
      stat = lstatSync(candidate);
    } catch {
      return null;
    }
    if (stat.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return null;
      const target = readlinkSync(candidate);
      if (target.startsWith("/")) resolved.length = 0;
      pending = [...components(target), ...pending];
      continue;
    }
    if (pending.length > 0 && !stat.isDirectory()) return null;
    resolved.push(part);
  }
  return posix.join(root, ...resolved);
}

function execError(command: string, root: string, reason: string, exitCode: number, path?: string): TinydError {
  return new TinydError("E_EXEC", `cannot run '${command}' in chroot ${root}: ${reason}`, exitCode, { command, path, chroot: root });
}

type Probe = "executable" | "missing" | "directory" | "not executable";

function probe(root: string, inside: string): Probe {
  const host = hostPath(root, inside);
  if (host === null) return "missing";
  if (statSync(host).isDirectory()) return "directory";
  try {
    accessSync(host, fs.X_OK);
    return "executable";
  } catch {
    return "not executable";
  }
}

/**
 * Finds the command inside the root the way execvp(3) would once the daemon
 * is there, and returns its path inside the root. A relative path is taken
 * from the daemon's working directory inside the root, and so are relative
 * entries of PATH.
 */
export function resolveCommandInRoot(root: string, command: string, searchPath: string, cwd: string): string {
  if (command === "") throw usageError("the command is empty: name a program to run after --");

  if (!command.includes("/")) {
    for (const directory of searchPath.split(":")) {
      const inside = posix.resolve(cwd, directory, command);
      if (probe(root, inside) === "executable") return inside;
    }
    throw execError(command, root, `command not found in PATH (${searchPath}) inside the root. Give its full path inside the root or fix PATH`, ExitCode.NOT_FOUND);
  }

  const inside = posix.resolve(cwd, command);
  switch (probe(root, inside)) {
    case "executable":
      return inside;
    case "missing":
      throw execError(command, root, `No such file or directory (${inside} inside the root)`, ExitCode.NOT_FOUND, inside);
    case "directory":
      throw execError(command, root, `Is a directory (${inside} inside the root)`, ExitCode.NOT_EXECUTABLE, inside);
    case "not executable":
      throw execError(command, root, `Permission denied (${inside} inside the root is not executable)`, ExitCode.NOT_EXECUTABLE, inside);
  }
}

/**
 * Checks --chroot and returns it as an absolute path. Throws E_CHROOT
 * (exit 66) when it is not a directory.
 */
export function checkRoot(root: string): string {
  if (root === "") throw usageError("invalid chroot '': expected a directory");
  const absolute = resolve(root);
  let ok = false;
  try {
    ok = statSync(absolute).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new TinydError("E_CHROOT", `cannot chroot to ${absolute}: no such directory. Create the root or pass another --chroot`, ExitCode.NO_INPUT, { path: absolute });
  return absolute;
}

/** Checks that the working directory exists inside the root; `cwd` is a path inside it. */
export function checkDirectoryInRoot(root: string, cwd: string): void {
  const host = hostPath(root, cwd);
  let ok = false;
  try {
    ok = host !== null && statSync(host).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new TinydError("E_CWD", `cannot change directory to ${cwd} in chroot ${root}: no such directory inside the root. Create it or pass another --cwd`, ExitCode.NO_INPUT, {
      path: cwd,
      chroot: root,
    });
  }
}
