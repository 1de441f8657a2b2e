/*
 * The only code of tinyd that runs between fork and exec.
 *
 * Bun cannot run JavaScript in a forked child (the child crashes as soon as
 * it returns into the VM), so the whole daemon(7) sequence after the first
 * fork lives here. It is compiled at run time by bun:ffi's TinyCC with
 * -nostdlib and no headers, because servers rarely have libc headers
 * installed. Every libc function is looked up with dlsym() before the first
 * fork, and after it the children call only async-signal-safe functions.
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
  S_REPORT
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
  long (*syscall)(long, ...);
  int *(*errno_location)(void);
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
  c->syscall = dlsym(rtld, "syscall");
  c->errno_location = dlsym(rtld, "__errno_location"); /* glibc, musl */
  if (!c->errno_location)
    c->errno_location = dlsym(rtld, "__error"); /* macOS, FreeBSD */

  return c->fork && c->setsid && c->exit_now && c->execve && c->dup2 &&
         c->fcntl && c->close && c->chdir && c->umask && c->signal &&
         c->sigprocmask && c->pipe && c->read && c->write && c->pwrite &&
         c->ftruncate && c->waitpid && c->getpid && c->errno_location;
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

/* Closes every descriptor from `first` on except `keep_a` and `keep_b` (-1 for none). */
static void close_from_except(struct libc *c, int *p, int first, int keep_a, int keep_b) {
  int low = keep_a < keep_b ? keep_a : keep_b;
  int high = keep_a < keep_b ? keep_b : keep_a;

  if (low >= first) {
    close_between(c, p, first, low - 1);
    first = low + 1;
  }
  if (high >= first) {
    close_between(c, p, first, high - 1);
    first = high + 1;
  }
  close_from(c, p, first);
}

/*
 * With --no-close, puts the notification pipe at its number. A descriptor
 * of the launch itself that sits there (the lock, the report pipe) moves
 * out of the way first; an inherited one is replaced, which the launcher
 * rejects beforehand.
 */
static int place_notify_fd_in_place(struct libc *c, int *p, int *report_fd) {
  int target = p[P_NOTIFY_TARGET];
  int source = p[P_NOTIFY_FD];

  if (source < 0)
    return 0;
  if (p[P_LOCK_FD] == target && (p[P_LOCK_FD] = c->fcntl(target, p[P_F_DUPFD_CLOEXEC], target + 1)) < 0)
    return -1;
  if (*report_fd == target && (*report_fd = c->fcntl(target, p[P_F_DUPFD_CLOEXEC], target + 1)) < 0)
    return -1;
  if (source == target)
    return c->fcntl(target, F_SETFD, 0);
  return c->dup2(source, target) < 0 ? -1 : 0;
}

/*
 * Puts the daemon's descriptors in place and closes everything above them.
 * Stdio goes to 0-2. The pidfile lock goes to 3 without close-on-exec, so the
 * lock lives exactly as long as the daemon. The report pipe goes to 4 with
 * close-on-exec, so a successful exec closes it. Each source is first copied
 * above every target, because a source may itself be one of 0-4 when tinyd
 * was started with closed stdio.
 */
static int arrange_fds(struct libc *c, int *p, const int *keep_fds, int *report_fd) {
  int sources[6] = {p[P_STDIN], p[P_STDOUT], p[P_STDERR], p[P_LOCK_FD], *report_fd, p[P_NOTIFY_FD]};
  int copies[6];
  int notify_target = p[P_NOTIFY_FD] >= 0 ? p[P_NOTIFY_TARGET] : -1;
  /* The report pipe moves up one when the notification pipe takes its number. */
  int report_target = notify_target == DAEMON_FD_REPORT ? DAEMON_FD_REPORT + 1 : DAEMON_FD_REPORT;
  int floor = (notify_target > report_target ? notify_target : report_target) + 1;

  if (p[P_FLAGS] & F_NO_CLOSE) {
    for (int i = 0; i < 3; i++)
      if (sources[i] >= 0 && c->dup2(sources[i], i) < 0)
        return -1;
    if (place_notify_fd_in_place(c, p, report_fd) < 0)
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

  for (int i = 0; i < 6; i++)
    if (sources[i] >= floor)
      floor = sources[i] + 1;
  for (int i = 0; i < 6; i++) {
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
  /* dup2 leaves the new descriptor without close-on-exec, so the daemon inherits it. */
  if (copies[5] >= 0 && c->dup2(copies[5], notify_target) < 0)
    return -1;

  close_from_except(c, p, DAEMON_FD_REPORT, copies[4] >= 0 ? report_target : -1, notify_target);
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
                         const char *cwd, const int *keep_fds, int *report_fd, int *step) {
  int lock_fd;

  *step = S_FDS;
  if (arrange_fds(c, p, keep_fds, report_fd) < 0)
    return err(c);
  lock_fd = (p[P_LOCK_FD] < 0) ? -1 : ((p[P_FLAGS] & F_NO_CLOSE) ? p[P_LOCK_FD] : DAEMON_FD_LOCK);

  if (p[P_UMASK] >= 0)
    c->umask(p[P_UMASK]);

  *step = S_CHDIR;
  if ((p[P_FLAGS] & F_CHDIR) && c->chdir(cwd) < 0)
    return err(c);

  *step = S_PIDFILE;
  if (lock_fd >= 0 && write_pid(c, lock_fd, c->getpid()) < 0)
    return err(c);

  *step = S_EXEC;
  c->execve(path, argv, envp);
  int error = err(c);
  /* Leave no pid of a process that never ran in the pidfile. */
  if (lock_fd >= 0)
    c->ftruncate(lock_fd, 0);
  return error;
}

/*
 * Runs the daemon(7) sequence and returns 0 once the daemon has exec'd, with
 * its pid in p[P_OUT_PID]. On failure it returns -1 with the failed step and
 * errno in p[P_OUT_STEP] and p[P_OUT_ERRNO].
 *
 * With F_FOREGROUND it skips the forks and exec's in the calling process, so
 * it returns only on failure.
 */
int tinyd_launch(int *p, char **argv, char **envp, char *path, char *cwd, int *keep_fds) {
  struct libc c;
  unsigned char all[SIGSET_BYTES];
  unsigned char saved[SIGSET_BYTES];
  int fds[2];
  int middle;
  int step = S_NONE;
  int error;

  p[P_OUT_PID] = 0;
  p[P_OUT_STEP] = S_NONE;
  p[P_OUT_ERRNO] = 0;

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
    p[P_OUT_ERRNO] = become_daemon(&c, p, argv, envp, path, cwd, keep_fds, &unused, &step);
    p[P_OUT_STEP] = step;
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

    error = become_daemon(&c, p, argv, envp, path, cwd, keep_fds, &report_fd, &step);
    report(&c, report_fd, R_ERROR, step, error, 0);
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
