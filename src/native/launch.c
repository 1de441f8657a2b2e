/*
 * The only code of tinyd that runs between fork and exec.
 *
 * Bun cannot run JavaScript in a forked child (the child crashes as soon as
 * it returns into the VM), so the whole daemon(7) sequence after the first
 * fork lives here. It is compiled at run time by bun:ffi's TinyCC with
 * -nostdlib and no headers, because servers rarely have libc headers
 * installed. Every libc function is looked up with dlsym() before the first
 * fork, and after it the children call only async-signal-safe functions and
 * plain system-call wrappers (setgroups, chroot, setrlimit, setpriority).
 *
 * The JavaScript side fills an int array with the settings and the
 * platform's constants (the P_* indices below, mirrored in native.ts) and
 * reads the outcome back from the same array.
 */

typedef unsigned long size_t;
typedef long ssize_t;

extern void *dlsym(void *handle, const char *name);

enum {
  P_FLAGS,
  P_UMASK,
  P_STDIN,
  P_STDOUT,
  P_STDERR,
  P_LOCK_FD,
  P_MAX_FD,
  P_NSIG,
  P_SIG_BLOCK,
  P_SIG_SETMASK,
  P_F_DUPFD_CLOEXEC,
  P_F_GETFL,
  P_F_SETFL,
  P_O_NONBLOCK,
  P_O_CLOEXEC,
  P_SIGKILL,
  P_SIGSTOP,
  P_SIGPIPE,
  P_SIGXFSZ,
  P_CLOSE_RANGE,
  P_RTLD_DEFAULT,
  P_KEEP_COUNT,
  P_OUT_PID,
  P_OUT_STEP,
  P_OUT_ERRNO,
  /* Privileges and resources. -1 in P_UID, P_GID or P_GROUP_COUNT keeps
   * tinyd's own; ids above 2^31 arrive negative and are passed on as such. */
  P_UID,
  P_GID,
  P_GROUP_COUNT,
  P_NICE_SET,
  P_NICE,
  P_PRIO_PROCESS,
  P_LIMIT_COUNT,
  /* On failure at S_LIMITS: the index of the limit that failed. */
  P_OUT_DETAIL,
  /* A write-only descriptor of the pidfile, for the pid; -1 without one. */
  P_PID_FD,
  /* Readiness: the launcher's write end of the notification pipe (-1 for
   * none) and the descriptor number the daemon gets it at. */
  P_NOTIFY_FD,
  P_NOTIFY_TARGET,
  P_COUNT
};

/* Flags in P_FLAGS. */
#define F_NO_CLOSE 1
#define F_KEEP_SIGNALS 2
#define F_FOREGROUND 4
#define F_CHDIR 8
/* A supervised child: one fork, its own process group, no new session. */
#define F_CHILD 16

/* Steps reported on failure; native.ts maps them to messages. */
enum {
  S_NONE,
  S_SYMBOLS,
  S_PIPE,
  S_FORK,
  S_SETSID,
  S_FORK_DAEMON,
  S_SIGNALS,
  S_FDS,
  S_UMASK,
  S_CHDIR,
  S_PIDFILE,
  S_EXEC,
  S_REPORT,
  S_LIMITS,
  S_NICE,
  S_CHROOT,
  S_SETGROUPS,
  S_SETGID,
  S_SETUID,
  /* setuid(0) succeeded after the switch to another user. */
  S_ROOT_REGAINED,
  S_SETPGID
};

/* One record on the report pipe: a pid from the middle process, or a failure. */
#define R_PID 1
#define R_ERROR 2

#define F_SETFD 2
#define FD_CLOEXEC 1
#define SIG_DFL ((void *)0)
#define EINTR 4
/* Large enough for every platform's sigset_t (glibc and musl: 128 bytes). */
#define SIGSET_BYTES 128
#define DAEMON_FD_LOCK 3
#define DAEMON_FD_REPORT 4

struct libc {
  int (*fork)(void);
  int (*setsid)(void);
  void (*exit_now)(int);
  int (*execve)(const char *, char *const *, char *const *);
  int (*dup2)(int, int);
  int (*fcntl)(int, int, ...);
  int (*close)(int);
  int (*chdir)(const char *);
  int (*umask)(int);
  void *(*signal)(int, void *);
  int (*sigprocmask)(int, const void *, void *);
  int (*pipe)(int *);
  int (*pipe2)(int *, int);
  ssize_t (*read)(int, void *, size_t);
  ssize_t (*write)(int, const void *, size_t);
  ssize_t (*pwrite)(int, const void *, size_t, long);
  int (*ftruncate)(int, long);
  int (*waitpid)(int, int *, int);
  int (*getpid)(void);
  int (*getppid)(void);
  int (*setpgid)(int, int);
  int (*prctl)(int, ...);
  long (*syscall)(long, ...);
  int *(*errno_location)(void);
  /* setgroups takes its count as size_t on Linux and as int on macOS. Both
   * pass in a register, so one declaration fits every platform. */
  int (*setgroups)(size_t, const int *);
  int (*setgid)(int);
  int (*setuid)(int);
  int (*chroot)(const char *);
  int (*setrlimit)(int, const unsigned long long *);
  int (*setpriority)(int, int, int);
};

static int lookup(struct libc *c, void *rtld) {
  c->fork = dlsym(rtld, "fork");
  c->setsid = dlsym(rtld, "setsid");
  c->exit_now = dlsym(rtld, "_exit");
  c->execve = dlsym(rtld, "execve");
  c->dup2 = dlsym(rtld, "dup2");
  c->fcntl = dlsym(rtld, "fcntl");
  c->close = dlsym(rtld, "close");
  c->chdir = dlsym(rtld, "chdir");
  c->umask = dlsym(rtld, "umask");
  c->signal = dlsym(rtld, "signal");
  c->sigprocmask = dlsym(rtld, "sigprocmask");
  c->pipe = dlsym(rtld, "pipe");
  c->pipe2 = dlsym(rtld, "pipe2"); /* absent on macOS */
  c->read = dlsym(rtld, "read");
  c->write = dlsym(rtld, "write");
  c->pwrite = dlsym(rtld, "pwrite");
  c->ftruncate = dlsym(rtld, "ftruncate");
  c->waitpid = dlsym(rtld, "waitpid");
  c->getpid = dlsym(rtld, "getpid");
  c->getppid = dlsym(rtld, "getppid");
  c->setpgid = dlsym(rtld, "setpgid");
  c->prctl = dlsym(rtld, "prctl"); /* Linux only */
  c->syscall = dlsym(rtld, "syscall");
  c->errno_location = dlsym(rtld, "__errno_location"); /* glibc, musl */
  if (!c->errno_location)
    c->errno_location = dlsym(rtld, "__error"); /* macOS, FreeBSD */
  c->setgroups = dlsym(rtld, "setgroups");
  c->setgid = dlsym(rtld, "setgid");
  c->setuid = dlsym(rtld, "setuid");
  c->chroot = dlsym(rtld, "chroot");
  c->setrlimit = dlsym(rtld, "setrlimit");
  c->setpriority = dlsym(rtld, "setpriority");

  return c->fork && c->setsid && c->exit_now && c->execve && c->dup2 &&
         c->fcntl && c->close && c->chdir && c->umask && c->signal &&
         c->sigprocmask && c->pipe && c->read && c->write && c->pwrite &&
         c->ftruncate && c->waitpid && c->getpid && c->getppid && c->setpgid &&
         c->errno_location && c->setgroups && c->setgid && c->setuid && c->chroot &&
         c->setrlimit && c->setpriority;
}

static int err(struct libc *c) { return *c->errno_location(); }

static void fill(unsigned char *set, int value) {
  for (int i = 0; i < SIGSET_BYTES; i++)
    set[i] = (unsigned char)value;
}

struct record {
  int type;
  int step;
  int error;
  int pid;
};

static void report(struct libc *c, int fd, int type, int step, int error, int pid) {
  struct record r;
  r.type = type;
  r.step = step;
  r.error = error;
  r.pid = pid;
  /* Sixteen bytes are below PIPE_BUF, so the write is atomic. */
  while (c->write(fd, &r, sizeof r) < 0 && err(c) == EINTR)
    ;
}

/*
 * Ignored signals survive exec, and so does the signal mask, so both are reset
 * unless the caller asked to keep them. Handled signals reset themselves at
 * exec. SIGPIPE and SIGXFSZ are reset even then, because the Bun runtime
 * ignores them itself and the caller never asked for that.
 */
static int reset_signals(struct libc *c, int *p, const unsigned char *saved_mask) {
  unsigned char empty[SIGSET_BYTES];

  if (p[P_FLAGS] & F_KEEP_SIGNALS) {
    c->signal(p[P_SIGPIPE], SIG_DFL);
    c->signal(p[P_SIGXFSZ], SIG_DFL);
    return c->sigprocmask(p[P_SIG_SETMASK], saved_mask, 0);
  }

  for (int sig = 1; sig < p[P_NSIG]; sig++) {
    if (sig == p[P_SIGKILL] || sig == p[P_SIGSTOP])
      continue;
    /* Fails with EINVAL for signals that libc reserves (glibc's 32 and 33).
     * Only libc handles those, so they cannot be ignored. */
    c->signal(sig, SIG_DFL);
  }
  fill(empty, 0);
  return c->sigprocmask(p[P_SIG_SETMASK], empty, 0);
}

static int clear_nonblock(struct libc *c, int *p, int fd) {
  int flags = c->fcntl(fd, p[P_F_GETFL]);
  if (flags < 0 || !(flags & p[P_O_NONBLOCK]))
    return 0;
  return c->fcntl(fd, p[P_F_SETFL], flags & ~p[P_O_NONBLOCK]);
}

/* Closes the descriptors from `first` to `last`, or to the end with last < 0. */
static void close_between(struct libc *c, int *p, int first, int last) {
  if (last >= 0 && first > last)
    return;
  if (p[P_CLOSE_RANGE] >= 0 && c->syscall &&
      c->syscall((long)p[P_CLOSE_RANGE], (long)first, last < 0 ? (long)~0U : (long)last, 0L) == 0)
    return;
  for (int fd = first; fd < p[P_MAX_FD] && (last < 0 || fd <= last); fd++)
    c->close(fd);
}

static void close_from(struct libc *c, int *p, int first) { close_between(c, p, first, -1); }

/* Closes every descriptor from `first` on except those in `keep` (-1 entries are ignored). */
static void close_from_except(struct libc *c, int *p, int first, const int *keep, int count) {
  int highest = -1;
  for (int i = 0; i < count; i++)
    if (keep[i] > highest)
      highest = keep[i];
  for (int fd = first; fd <= highest; fd++) {
    int kept = 0;
    for (int i = 0; i < count; i++)
      if (keep[i] == fd)
        kept = 1;
    if (!kept)
      c->close(fd);
  }
  close_from(c, p, highest >= first ? highest + 1 : first);
}

/*
 * With --no-close, puts the notification pipe at its number. A descriptor
 * of the launch itself at that number (the lock, the report pipe) moves out
 * of the way first. An inherited one would be replaced, so the launcher
 * rejects that case beforehand.
 */
static int place_notify_fd_in_place(struct libc *c, int *p, int *report_fd, int *pid_fd) {
  int target = p[P_NOTIFY_TARGET];
  int source = p[P_NOTIFY_FD];

  if (source < 0)
    return 0;
  if (p[P_LOCK_FD] == target && (p[P_LOCK_FD] = c->fcntl(target, p[P_F_DUPFD_CLOEXEC], target + 1)) < 0)
    return -1;
  if (*report_fd == target && (*report_fd = c->fcntl(target, p[P_F_DUPFD_CLOEXEC], target + 1)) < 0)
    return -1;
  if (*pid_fd == target && (*pid_fd = c->fcntl(target, p[P_F_DUPFD_CLOEXEC], target + 1)) < 0)
    return -1;
  if (source == target)
    return c->fcntl(target, F_SETFD, 0);
  return c->dup2(source, target) < 0 ? -1 : 0;
}

/*
 * Puts the daemon's descriptors in place and closes everything above them.
 * Stdio goes to 0-2. The pidfile lock goes to 3 without close-on-exec, so the
 * lock lives exactly as long as the daemon. It is open read-only, so the
 * daemon cannot rewrite the pid that root's `tinyd stop` will signal. The
 * notification pipe of --notify-fd goes to its number without close-on-exec.
 * The report pipe and the pidfile's write descriptor take the lowest free
 * numbers from 4 on, with close-on-exec, so a successful exec closes them.
 * Each source is first copied above every target, because a source may
 * itself be one of the targets when tinyd was started with closed stdio.
 */
static int arrange_fds(struct libc *c, int *p, const int *keep_fds, int *report_fd, int *pid_fd) {
  int sources[7] = {p[P_STDIN], p[P_STDOUT], p[P_STDERR], p[P_LOCK_FD], *report_fd, p[P_NOTIFY_FD], *pid_fd};
  int copies[7];
  int notify_target = p[P_NOTIFY_FD] >= 0 ? p[P_NOTIFY_TARGET] : -1;
  /* The report pipe and the pid descriptor take the lowest numbers from 4 on
   * that the notification pipe leaves free. */
  int next = DAEMON_FD_REPORT;
  if (next == notify_target)
    next++;
  int report_target = next++;
  if (next == notify_target)
    next++;
  int pid_target = next;
  int floor = (notify_target > pid_target ? notify_target : pid_target) + 1;

  if (p[P_FLAGS] & F_NO_CLOSE) {
    for (int i = 0; i < 3; i++)
      if (sources[i] >= 0 && c->dup2(sources[i], i) < 0)
        return -1;
    if (place_notify_fd_in_place(c, p, report_fd, pid_fd) < 0)
      return -1;
    for (int i = 0; i < 3; i++)
      if (sources[i] < 0 && clear_nonblock(c, p, i) < 0 && err(c) != 9 /* EBADF */)
        return -1;
    if (p[P_LOCK_FD] >= 0 && c->fcntl(p[P_LOCK_FD], F_SETFD, 0) < 0)
      return -1;
    /* Bun marks every inherited descriptor close-on-exec when it starts. */
    for (int i = 0; i < p[P_KEEP_COUNT]; i++)
      c->fcntl(keep_fds[i], F_SETFD, 0);
    return 0;
  }

  for (int i = 0; i < 7; i++)
    if (sources[i] >= floor)
      floor = sources[i] + 1;
  for (int i = 0; i < 7; i++) {
    copies[i] = -1;
    if (sources[i] >= 0 && (copies[i] = c->fcntl(sources[i], p[P_F_DUPFD_CLOEXEC], floor)) < 0)
      return -1;
  }

  for (int i = 0; i < 4; i++) {
    if (copies[i] < 0) {
      if (i < 3) {
        /* Kept stdio: Bun may have made it non-blocking, which would leak. */
        if (clear_nonblock(c, p, i) < 0 && err(c) != 9 /* EBADF */)
          return -1;
      } else {
        c->close(i);
      }
      continue;
    }
    if (c->dup2(copies[i], i) < 0)
      return -1;
  }
  if (copies[4] >= 0) {
    if (c->dup2(copies[4], report_target) < 0 ||
        c->fcntl(report_target, F_SETFD, FD_CLOEXEC) < 0)
      return -1;
    *report_fd = report_target;
  }
  if (copies[6] >= 0) {
    if (c->dup2(copies[6], pid_target) < 0 ||
        c->fcntl(pid_target, F_SETFD, FD_CLOEXEC) < 0)
      return -1;
    *pid_fd = pid_target;
  }
  /* dup2 leaves the new descriptor without close-on-exec, so the daemon inherits it. */
  if (copies[5] >= 0 && c->dup2(copies[5], notify_target) < 0)
    return -1;

  {
    int keep[3] = {copies[4] >= 0 ? report_target : -1, notify_target, copies[6] >= 0 ? pid_target : -1};
    close_from_except(c, p, DAEMON_FD_REPORT, keep, 3);
  }
  return 0;
}

static int write_pid(struct libc *c, int fd, int pid) {
  char text[16];
  int n = 0;
  char digits[12];
  int d = 0;

  do {
    digits[d++] = (char)('0' + pid % 10);
    pid /= 10;
  } while (pid > 0);
  while (d > 0)
    text[n++] = digits[--d];
  text[n++] = '\n';

  if (c->ftruncate(fd, 0) < 0)
    return -1;
  return c->pwrite(fd, text, (size_t)n, 0) == n ? 0 : -1;
}

/*
 * The settings the daemon applies besides the daemon(7) steps: resource
 * limits, niceness, root directory and identity. The parent resolved every user and
 * group to numbers, because the NSS look-ups (getpwnam, initgroups) are not
 * async-signal-safe and must not run after fork.
 */
struct privileges {
  /* The directory to chroot into, or null. */
  const char *root;
  /* P_GROUP_COUNT supplementary group ids. */
  const int *groups;
  /* P_LIMIT_COUNT triples: resource, soft limit, hard limit. */
  const unsigned long long *limits;
  /* Set on failure at S_LIMITS: the index of the failed triple. */
  int failed_limit;
};

static int set_limits(struct libc *c, int *p, struct privileges *priv) {
  for (int i = 0; i < p[P_LIMIT_COUNT]; i++) {
    const unsigned long long *limit = priv->limits + 3 * i;
    if (c->setrlimit((int)limit[0], limit + 1) < 0) {
      priv->failed_limit = i;
      return -1;
    }
  }
  return 0;
}

/*
 * Switches to the daemon's user: setgroups first and setgid next, because
 * each needs the privilege that the following call gives up. Returns 0, or
 * -1 with errno and the failed step in *step.
 */
static int drop_privileges(struct libc *c, int *p, const struct privileges *priv, int *step) {
  *step = S_SETGROUPS;
  if (p[P_GROUP_COUNT] >= 0 && c->setgroups((size_t)p[P_GROUP_COUNT], priv->groups) < 0)
    return -1;

  *step = S_SETGID;
  if (p[P_GID] != -1 && c->setgid(p[P_GID]) < 0)
    return -1;

  *step = S_SETUID;
  if (p[P_UID] == -1)
    return 0;
  if (c->setuid(p[P_UID]) < 0)
    return -1;

  /* setuid() as root sets the real, effective and saved user ids alike, so
   * the way back to root must be closed. Check it rather than trust it. */
  if (p[P_UID] != 0 && c->setuid(0) == 0) {
    *step = S_ROOT_REGAINED;
    *c->errno_location() = 0;
    return -1;
  }
  return 0;
}

static int exec_status(int error) {
  /* ENOENT and ENOTDIR: not found. EACCES, ENOEXEC, EISDIR and the rest:
   * found but not runnable. Shells use the same two codes. */
  return (error == 2 || error == 20) ? 127 : 126;
}

/*
 * The steps in the daemon itself, in daemon(7) order. Returns only on
 * failure, with the step in *step and errno as the result.
 */
static int become_daemon(struct libc *c, int *p, char **argv, char **envp, const char *path,
                         const char *cwd, const int *keep_fds, int *report_fd, int *step,
                         struct privileges *priv) {
  int pid_fd = p[P_PID_FD];

  *step = S_FDS;
  if (arrange_fds(c, p, keep_fds, report_fd, &pid_fd) < 0)
    return err(c);

  if (p[P_UMASK] >= 0)
    c->umask(p[P_UMASK]);

  *step = S_LIMITS;
  if (set_limits(c, p, priv) < 0)
    return err(c);

  *step = S_NICE;
  if (p[P_NICE_SET] && c->setpriority(p[P_PRIO_PROCESS], 0, p[P_NICE]) < 0)
    return err(c);

  /* The chdir below moves the daemon inside the new root. A working
   * directory left outside it is a known way out of a chroot. */
  *step = S_CHROOT;
  if (priv->root && c->chroot(priv->root) < 0)
    return err(c);

  *step = S_CHDIR;
  if ((p[P_FLAGS] & F_CHDIR) && c->chdir(cwd) < 0)
    return err(c);

  if (drop_privileges(c, p, priv, step) < 0)
    return err(c);

  *step = S_PIDFILE;
  if (pid_fd >= 0 && write_pid(c, pid_fd, c->getpid()) < 0)
    return err(c);

  *step = S_EXEC;
  c->execve(path, argv, envp);
  int error = err(c);
  /* Leave no pid of a process that never ran in the pidfile. */
  if (pid_fd >= 0)
    c->ftruncate(pid_fd, 0);
  return error;
}

/*
 * Starts a supervised child: one fork, a process group of its own so that
 * signals reach its descendants too, and on Linux the parent-death signal
 * SIGKILL, so the child never runs on unsupervised after its supervisor was
 * killed. Returns as tinyd_launch does, with the child not reaped.
 */
static int spawn_child(struct libc *c, int *p, char **argv, char **envp, const char *path,
                       const char *cwd, const int *keep_fds, int *fds, const unsigned char *saved,
                       struct privileges *priv) {
  int parent = c->getpid();
  int child = c->fork();
  int step = S_NONE;
  int error;

  if (child == 0) {
    int report_fd = fds[1];

    c->close(fds[0]);
    if (c->setpgid(0, 0) < 0) {
      report(c, report_fd, R_ERROR, S_SETPGID, err(c), 0);
      c->exit_now(71);
    }
    if (c->prctl) {
      c->prctl(1 /* PR_SET_PDEATHSIG */, (long)p[P_SIGKILL], 0L, 0L, 0L);
      /* The supervisor may have died before prctl took effect. */
      if (c->getppid() != parent)
        c->exit_now(71);
    }
    if (reset_signals(c, p, saved) < 0) {
      report(c, report_fd, R_ERROR, S_SIGNALS, err(c), 0);
      c->exit_now(71);
    }
    error = become_daemon(c, p, argv, envp, path, cwd, keep_fds, &report_fd, &step, priv);
    report(c, report_fd, R_ERROR, step, error, 0);
    c->exit_now(step == S_EXEC ? exec_status(error) : 71);
  }

  error = err(c);
  c->sigprocmask(p[P_SIG_SETMASK], saved, 0);
  c->close(fds[1]);
  if (child < 0) {
    c->close(fds[0]);
    p[P_OUT_STEP] = S_FORK;
    p[P_OUT_ERRNO] = error;
    return -1;
  }
  /* Both sides set the group, so that a signal to the group right after this
   * returns cannot miss the child. After the exec this fails harmlessly. */
  c->setpgid(child, child);

  for (;;) {
    struct record r;
    ssize_t n = c->read(fds[0], &r, sizeof r);
    if (n < 0 && err(c) == EINTR)
      continue;
    if (n <= 0)
      break;
    if (n == sizeof r && r.type == R_ERROR && p[P_OUT_STEP] == S_NONE) {
      p[P_OUT_STEP] = r.step;
      p[P_OUT_ERRNO] = r.error;
    }
  }
  c->close(fds[0]);

  if (p[P_OUT_STEP] != S_NONE) {
    /* The child exited after its report: reap it, since it never ran. */
    while (c->waitpid(child, 0, 0) < 0 && err(c) == EINTR)
      ;
    return -1;
  }
  p[P_OUT_PID] = child;
  return 0;
}

/*
 * Runs the daemon(7) sequence and returns 0 once the daemon has exec'd, with
 * its pid in p[P_OUT_PID]. On failure it returns -1 with the failed step and
 * errno in p[P_OUT_STEP] and p[P_OUT_ERRNO].
 *
 * With F_FOREGROUND it skips the forks and exec's in the calling process, so
 * it returns only on failure.
 */
int tinyd_launch(int *p, char **argv, char **envp, char *path, char *cwd, int *keep_fds,
                 char *root, int *groups, unsigned long long *limits) {
  struct libc c;
  struct privileges priv;
  unsigned char all[SIGSET_BYTES];
  unsigned char saved[SIGSET_BYTES];
  int fds[2];
  int middle;
  int step = S_NONE;
  int error;

  p[P_OUT_PID] = 0;
  p[P_OUT_STEP] = S_NONE;
  p[P_OUT_ERRNO] = 0;
  p[P_OUT_DETAIL] = 0;
  priv.root = root;
  priv.groups = groups;
  priv.limits = limits;
  priv.failed_limit = 0;

  if (!lookup(&c, (void *)(long)p[P_RTLD_DEFAULT])) {
    p[P_OUT_STEP] = S_SYMBOLS;
    return -1;
  }

  fill(saved, 0);
  if (p[P_FLAGS] & F_FOREGROUND) {
    int unused = -1;
    c.sigprocmask(p[P_SIG_BLOCK], 0, saved);
    if (reset_signals(&c, p, saved) < 0) {
      p[P_OUT_STEP] = S_SIGNALS;
      p[P_OUT_ERRNO] = err(&c);
      return -1;
    }
    p[P_OUT_ERRNO] = become_daemon(&c, p, argv, envp, path, cwd, keep_fds, &unused, &step, &priv);
    p[P_OUT_STEP] = step;
    p[P_OUT_DETAIL] = priv.failed_limit;
    return -1;
  }

  if ((c.pipe2 && p[P_O_CLOEXEC] ? c.pipe2(fds, p[P_O_CLOEXEC]) : c.pipe(fds)) < 0) {
    p[P_OUT_STEP] = S_PIPE;
    p[P_OUT_ERRNO] = err(&c);
    return -1;
  }
  if (!(c.pipe2 && p[P_O_CLOEXEC])) {
    c.fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    c.fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  }

  /* Block every signal across fork, so that none of Bun's handlers runs in
   * the child before its dispositions are reset. */
  fill(all, 0xff);
  c.sigprocmask(p[P_SIG_BLOCK], all, saved);

  if (p[P_FLAGS] & F_CHILD)
    return spawn_child(&c, p, argv, envp, path, cwd, keep_fds, fds, saved, &priv);

  middle = c.fork();
  if (middle == 0) {
    int report_fd = fds[1];
    int daemon;

    c.close(fds[0]);
    if (reset_signals(&c, p, saved) < 0) {
      report(&c, report_fd, R_ERROR, S_SIGNALS, err(&c), 0);
      c.exit_now(71);
    }
    if (c.setsid() < 0) {
      report(&c, report_fd, R_ERROR, S_SETSID, err(&c), 0);
      c.exit_now(71);
    }

    /* The second fork leaves a daemon that is not a session leader, so it
     * can never acquire a controlling terminal by opening one. */
    daemon = c.fork();
    if (daemon < 0) {
      report(&c, report_fd, R_ERROR, S_FORK_DAEMON, err(&c), 0);
      c.exit_now(71);
    }
    if (daemon > 0) {
      report(&c, report_fd, R_PID, S_NONE, 0, daemon);
      c.exit_now(0);
    }

    error = become_daemon(&c, p, argv, envp, path, cwd, keep_fds, &report_fd, &step, &priv);
    /* An error record has no pid, so its pid field carries the failed limit. */
    report(&c, report_fd, R_ERROR, step, error, priv.failed_limit);
    c.exit_now(step == S_EXEC ? exec_status(error) : 71);
  }

  error = err(&c);
  c.sigprocmask(p[P_SIG_SETMASK], saved, 0);
  c.close(fds[1]);
  if (middle < 0) {
    c.close(fds[0]);
    p[P_OUT_STEP] = S_FORK;
    p[P_OUT_ERRNO] = error;
    return -1;
  }

  /* The middle process exits right after its fork: reap it here so it never
   * lingers as a zombie of the launcher. */
  while (c.waitpid(middle, 0, 0) < 0 && err(&c) == EINTR)
    ;

  /* The pipe reaches end-of-file once the middle process has exited and the
   * daemon has exec'd or failed. */
  for (;;) {
    struct record r;
    ssize_t n = c.read(fds[0], &r, sizeof r);
    if (n < 0 && err(&c) == EINTR)
      continue;
    if (n <= 0)
      break;
    if (n != sizeof r)
      continue;
    if (r.type == R_PID) {
      p[P_OUT_PID] = r.pid;
    } else if (r.type == R_ERROR && p[P_OUT_STEP] == S_NONE) {
      p[P_OUT_STEP] = r.step;
      p[P_OUT_ERRNO] = r.error;
      p[P_OUT_DETAIL] = r.pid;
    }
  }
  c.close(fds[0]);

  if (p[P_OUT_STEP] != S_NONE)
    return -1;
  if (p[P_OUT_PID] <= 0) {
    /* The middle process died without a word, for example by a signal. */
    p[P_OUT_STEP] = S_REPORT;
    return -1;
  }
  return 0;
}
