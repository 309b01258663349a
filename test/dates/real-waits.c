/*
 * Preloaded before libfaketime in the date sweep (test/dates/sweep.ts). libfaketime wraps
 * the blocking waits (epoll_wait, poll, select, nanosleep, ...) and, while one is in
 * progress, answers clock reads with the real time. PostgreSQL reads the clock in its
 * SIGALRM handler, which runs during such waits: it saw a time 27 days in the past, re-armed
 * the timer for 27 days, and lock_timeout, statement_timeout and deadlock detection never
 * fired. These wrappers send the waits straight to libc, so only the clock is faked; the
 * sweep offsets the clock without a speed factor, so libfaketime has no wait to rescale.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

static void *libc_symbol(const char *name) {
  static void *libc;
  if (!libc) libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  return libc ? dlsym(libc, name) : NULL;
}

#define REAL(name) static __typeof__(&name) real_##name; if (!real_##name) real_##name = (__typeof__(&name))libc_symbol(#name)

int epoll_wait(int fd, struct epoll_event *events, int max, int timeout) {
  REAL(epoll_wait);
  return real_epoll_wait(fd, events, max, timeout);
}

int epoll_pwait(int fd, struct epoll_event *events, int max, int timeout, const sigset_t *mask) {
  REAL(epoll_pwait);
  return real_epoll_pwait(fd, events, max, timeout, mask);
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
  REAL(poll);
  return real_poll(fds, n, timeout);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask) {
  REAL(ppoll);
  return real_ppoll(fds, n, timeout, mask);
}

int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout) {
  REAL(select);
  return real_select(n, r, w, e, timeout);
}

int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout, const sigset_t *mask) {
  REAL(pselect);
  return real_pselect(n, r, w, e, timeout, mask);
}

int nanosleep(const struct timespec *req, struct timespec *rem) {
  REAL(nanosleep);
  return real_nanosleep(req, rem);
}
