/** Environment variables of the readiness protocols, in a module of their own so that option parsing loads no FFI code. */

/** sd_notify(3)'s socket path, as systemd passes it. */
export const NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET";

/**
 * Variable with the number of the daemon's notification descriptor,
 * because s6's protocol itself passes the number out of band. The library's
 * notify() reads it.
 */
export const NOTIFY_FD_ENV = "TINYD_NOTIFY_FD";

/** The lowest descriptor a daemon can be given: 0 to 2 are its stdio. */
export const MIN_NOTIFY_FD = 3;
/**
 * The highest descriptor a daemon can be given. dup2(2) fails above the
 * daemon's RLIMIT_NOFILE soft limit, often 1024, and the launch then
 * reports that failure.
 */
export const MAX_NOTIFY_FD = 65535;
