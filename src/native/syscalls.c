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
int tinyd_syscalls_init(long rtld_default) {
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

int tinyd_flock(int fd, int operation) { return result(flock_fn(fd, operation)); }
int tinyd_kill(int pid, int signal) { return result(kill_fn(pid, signal)); }
int tinyd_setsid(void) { return result(setsid_fn()); }
int tinyd_getpgid(int pid) { return result(getpgid_fn(pid)); }
int tinyd_getsid(int pid) { return result(getsid_fn(pid)); }
int tinyd_pipe(int *fds) { return result(pipe_fn(fds)); }
int tinyd_waitpid(int pid, int *status, int options) { return result(waitpid_fn(pid, status, options)); }
int tinyd_socketpair(int domain, int type, int protocol, int *fds) {
  return result(socketpair_fn(domain, type, protocol, fds));
}

/* Sets the thread name that Linux shows as /proc/PID/comm (16 bytes with the NUL). */
int tinyd_set_process_name(const char *name) {
  if (!prctl_fn)
    return -38; /* ENOSYS */
  return result(prctl_fn(15 /* PR_SET_NAME */, name, 0L, 0L, 0L));
}
