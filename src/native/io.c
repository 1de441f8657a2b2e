/*
 * Wrappers for sockets, descriptors, limits and the signal mask, which
 * return -errno like those in syscalls.c. They are a compilation unit of
 * their own, loaded only by the calls that need them (readiness, tinyd/posix),
 * because every bun:ffi symbol adds to the launcher's start-up time.
 *
 * Compiled by TinyCC with -nostdlib and no headers, like launch.c.
 */

typedef unsigned long size_t;
typedef long ssize_t;

extern void *dlsym(void *handle, const char *name);

static int *(*errno_of)(void);

struct poll_entry {
  int fd;
  short events;
  short revents;
};
static int (*socket_fn)(int, int, int);
static int (*bind_fn)(int, const void *, unsigned int);
static ssize_t (*sendto_fn)(int, const void *, size_t, int, const void *, unsigned int);
static ssize_t (*recvfrom_fn)(int, void *, size_t, int, void *, unsigned int *);
static int (*poll_fn)(struct poll_entry *, unsigned long, int);
static ssize_t (*read_fn)(int, void *, size_t);
static ssize_t (*write_fn)(int, const void *, size_t);
static int (*close_fn)(int);
static int (*fcntl_fn)(int, int, ...);
static int (*dup2_fn)(int, int);
static int (*getrlimit_fn)(int, void *);
static int (*setrlimit_fn)(int, const void *);
static int (*sigprocmask_fn)(int, const void *, void *);

/* Looks the functions up once; returns 0, or -1 when one is missing. */
static int io_init(long rtld_default) {
  void *rtld = (void *)rtld_default;

  errno_of = dlsym(rtld, "__errno_location");
  if (!errno_of)
    errno_of = dlsym(rtld, "__error");
  socket_fn = dlsym(rtld, "socket");
  bind_fn = dlsym(rtld, "bind");
  sendto_fn = dlsym(rtld, "sendto");
  recvfrom_fn = dlsym(rtld, "recvfrom");
  poll_fn = dlsym(rtld, "poll");
  read_fn = dlsym(rtld, "read");
  write_fn = dlsym(rtld, "write");
  close_fn = dlsym(rtld, "close");
  fcntl_fn = dlsym(rtld, "fcntl");
  dup2_fn = dlsym(rtld, "dup2");
  getrlimit_fn = dlsym(rtld, "getrlimit");
  setrlimit_fn = dlsym(rtld, "setrlimit");
  sigprocmask_fn = dlsym(rtld, "sigprocmask");
  return (errno_of && socket_fn && bind_fn && sendto_fn && recvfrom_fn && poll_fn && read_fn && write_fn &&
          close_fn && fcntl_fn && dup2_fn && getrlimit_fn && setrlimit_fn && sigprocmask_fn)
             ? 0
             : -1;
}

static int result(int value) { return value < 0 ? -*errno_of() : value; }

static int io_socket(int domain, int type, int protocol) { return result(socket_fn(domain, type, protocol)); }
static int io_bind(int fd, const void *address, int length) { return result(bind_fn(fd, address, (unsigned int)length)); }
static int io_close(int fd) { return result(close_fn(fd)); }
static int io_dup2(int fd, int target) { return result(dup2_fn(fd, target)); }
static int io_getrlimit(int resource, void *limit) { return result(getrlimit_fn(resource, limit)); }
static int io_setrlimit(int resource, const void *limit) { return result(setrlimit_fn(resource, limit)); }
static int io_sigprocmask(int how, const void *set, void *old) { return result(sigprocmask_fn(how, set, old)); }

/* fcntl is variadic, and Apple's arm64 ABI passes variadic arguments on the
 * stack, so JavaScript must not call it through a fixed signature. */
static int io_fcntl(int fd, int command, int argument) { return result(fcntl_fn(fd, command, argument)); }

static int io_sendto(int fd, const void *data, int length, int flags, const void *address, int address_length) {
  return result((int)sendto_fn(fd, data, (size_t)length, flags, address, (unsigned int)address_length));
}

/* Receives one datagram; a longer one is cut to `length` bytes. */
static int io_recv(int fd, void *data, int length, int flags) {
  return result((int)recvfrom_fn(fd, data, (size_t)length, flags, 0, 0));
}

static int io_read(int fd, void *data, int length) { return result((int)read_fn(fd, data, (size_t)length)); }
static int io_write(int fd, const void *data, int length) { return result((int)write_fn(fd, data, (size_t)length)); }

/* Returns the revents of one descriptor, 0 when nothing is pending after `timeout_ms`. */
static int io_poll1(int fd, int events, int timeout_ms) {
  struct poll_entry entry;
  int n;

  entry.fd = fd;
  entry.events = (short)events;
  entry.revents = 0;
  n = poll_fn(&entry, 1, timeout_ms);
  if (n < 0)
    return -*errno_of();
  return n == 0 ? 0 : entry.revents;
}

/* Operations of tinyd_io; compile.ts mirrors them. */
enum {
  OP_INIT,
  OP_SOCKET,
  OP_BIND,
  OP_CLOSE,
  OP_DUP2,
  OP_GETRLIMIT,
  OP_SETRLIMIT,
  OP_SIGPROCMASK,
  OP_FCNTL,
  OP_SENDTO,
  OP_RECV,
  OP_READ,
  OP_WRITE,
  OP_POLL1
};

/* The one entry point, because bun:ffi compiles a trampoline per bound symbol. */
long tinyd_io(int op, long a, long b, long c, long d, long e, long f) {
  switch (op) {
  case OP_INIT:
    return io_init(a);
  case OP_SOCKET:
    return io_socket((int)a, (int)b, (int)c);
  case OP_BIND:
    return io_bind((int)a, (const void *)b, (int)c);
  case OP_CLOSE:
    return io_close((int)a);
  case OP_DUP2:
    return io_dup2((int)a, (int)b);
  case OP_GETRLIMIT:
    return io_getrlimit((int)a, (void *)b);
  case OP_SETRLIMIT:
    return io_setrlimit((int)a, (const void *)b);
  case OP_SIGPROCMASK:
    return io_sigprocmask((int)a, (const void *)b, (void *)c);
  case OP_FCNTL:
    return io_fcntl((int)a, (int)b, (int)c);
  case OP_SENDTO:
    return io_sendto((int)a, (const void *)b, (int)c, (int)d, (const void *)e, (int)f);
  case OP_RECV:
    return io_recv((int)a, (void *)b, (int)c, (int)d);
  case OP_READ:
    return io_read((int)a, (void *)b, (int)c);
  case OP_WRITE:
    return io_write((int)a, (const void *)b, (int)c);
  case OP_POLL1:
    return io_poll1((int)a, (int)b, (int)c);
  default:
    return -22; /* EINVAL */
  }
}
