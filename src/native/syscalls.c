/*
 * Wrappers for the calls that return to JavaScript, so that JavaScript gets
 * errno as a negative result. errno cannot be read reliably from JavaScript
 * after a bun:ffi call returns: the runtime may have overwritten it by then.
 *
 * Compiled in the same unit as launch.c, after it: dlsym and the headerless
 * types come from there.
 */

static int *(*errno_of)(void);
static int (*flock_fn)(int, int);
static int (*kill_fn)(int, int);
static int (*setsid_fn)(void);
static int (*getpgid_fn)(int);
static int (*getsid_fn)(int);
static int (*pipe_fn)(int *);
static int (*waitpid_fn)(int, int *, int);
static int (*prctl_fn)(int, ...);
static int (*socketpair_fn)(int, int, int, int *);

/* Looks the functions up once; returns 0, or -1 when one is missing. */
static int syscalls_init(long rtld_default) {
  void *rtld = (void *)rtld_default;

  errno_of = dlsym(rtld, "__errno_location");
  if (!errno_of)
    errno_of = dlsym(rtld, "__error");
  flock_fn = dlsym(rtld, "flock");
  kill_fn = dlsym(rtld, "kill");
  setsid_fn = dlsym(rtld, "setsid");
  getpgid_fn = dlsym(rtld, "getpgid");
  getsid_fn = dlsym(rtld, "getsid");
  pipe_fn = dlsym(rtld, "pipe");
  waitpid_fn = dlsym(rtld, "waitpid");
  prctl_fn = dlsym(rtld, "prctl"); /* Linux only */
  socketpair_fn = dlsym(rtld, "socketpair");
  return (errno_of && flock_fn && kill_fn && setsid_fn && getpgid_fn && getsid_fn && pipe_fn && waitpid_fn &&
          socketpair_fn) ? 0 : -1;
}

static int result(int value) { return value < 0 ? -*errno_of() : value; }

/* Operations of tinyd_syscall; compile.ts mirrors them. */
enum {
  OP_INIT,
  OP_FLOCK,
  OP_KILL,
  OP_SETSID,
  OP_GETPGID,
  OP_GETSID,
  OP_PIPE,
  OP_WAITPID,
  OP_SET_PROCESS_NAME,
  OP_SOCKETPAIR
};

/*
 * The one entry point for all wrappers. bun:ffi compiles a trampoline for
 * every symbol it binds, at about a millisecond each, and this runs on every
 * start of tinyd, so one symbol serves them all.
 */
long tinyd_syscall(int op, long a, long b, long c, long d) {
  switch (op) {
  case OP_INIT:
    return syscalls_init(a);
  case OP_FLOCK:
    return result(flock_fn((int)a, (int)b));
  case OP_KILL:
    return result(kill_fn((int)a, (int)b));
  case OP_SETSID:
    return result(setsid_fn());
  case OP_GETPGID:
    return result(getpgid_fn((int)a));
  case OP_GETSID:
    return result(getsid_fn((int)a));
  case OP_PIPE:
    return result(pipe_fn((int *)a));
  case OP_WAITPID:
    return result(waitpid_fn((int)a, (int *)b, (int)c));
  case OP_SET_PROCESS_NAME:
    /* Linux's PR_SET_NAME: /proc/PID/comm, 16 bytes with the NUL. */
    if (!prctl_fn)
      return -38; /* ENOSYS */
    return result(prctl_fn(15, (const char *)a, 0L, 0L, 0L));
  case OP_SOCKETPAIR:
    return result(socketpair_fn((int)a, (int)b, (int)c, (int *)d));
  default:
    return -22; /* EINVAL */
  }
}
