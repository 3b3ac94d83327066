/*
 * hypeman-exec-spawn: starts one command for the exec agent (src/guest) and reports how it
 * ended. Built as a static binary so that it runs whatever libc the container has, or none.
 *
 *   hypeman-exec-spawn [--root DIR] [--cwd DIR] [--uid N --gid N --groups N,N,...]
 *                      [--pwd VALUE] [--tty] -- FILE [ARG...]
 *
 * The environment is the command's, plus two variables for the helper alone, removed
 * before the command runs: HYPEMAN_EXEC_REPORT (an abstract Unix socket name, without the
 * leading NUL) and HYPEMAN_EXEC_TOKEN (the line that identifies this helper to the agent).
 *
 * Why a helper: Node cannot chroot, libuv's spawn clears the supplementary groups
 * (setgroups(0)) and both libuv and node-pty drop the core-dump bit of the wait status.
 *
 * What it does: connects to the agent's report socket, chroots into DIR (unless DIR is /),
 * forks; the child puts itself in a new process group (with --tty: the terminal's
 * foreground group), switches user, enters the working directory, restores default signal
 * dispositions and an empty mask, and execs FILE (searched in PATH when it has no '/',
 * without execvp's fallback of running a non-executable file with /bin/sh). The parent
 * closes its stdio (so end of file on the command's output is not held back by it),
 * reports, as lines on the report socket:
 *
 *   hello TOKEN
 *   started PID                        the exec succeeded
 *   failed STAGE ERRNO EXISTS TEXT     nothing runs; STAGE is chroot, fork, credentials,
 *                                      cwd or exec; EXISTS is 1 when exec failed on a file
 *                                      that exists (a missing interpreter or loader)
 *   exited CODE | signaled SIGNAL CORE the command's wait status, core-dump bit included
 *
 * and then waits until the agent closes the report socket before it exits, so that the
 * agent decides when the session's terminal may go away. It forwards no signals: the agent
 * signals the command's process group itself. It ignores the job-control and hang-up
 * signals a terminal sends its session leader, so it outlives the command and reaps it.
 *
 * With --tty it keeps a descriptor of the terminal until the command ends, and takes one
 * line from the agent while the command runs: "stdin-closed" (the client ended the input).
 * From then on it looks at the terminal's input queue, and each time the queue is empty
 * (everything typed has been read) it asks for an end of file with a report line,
 *
 *   type-eof                           the agent types VEOF (^D) into the terminal
 *
 * paced (5 ms, doubling to 100 ms) and, while the terminal is in raw mode, at most three
 * times until it is seen canonical again. Why (spec §9.8): a ^D the kernel received in
 * canonical mode is an end-of-file mark only as long as ICANON stays set; a line editor
 * that clears ICANON before reading (busybox sh, bash) gets a NUL byte instead and waits
 * on; a ^D received in raw mode is a plain byte to a canonical reader. Either way what
 * was typed has been read and the command still runs, so another ^D follows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "command-exec.h"

#define MAX_GROUPS 65536

/* Pacing of type-eof requests after stdin-closed (see the header comment). */
#define EOF_FIRST_WAIT_MS 5
#define EOF_MAX_WAIT_MS 100
#define EOF_RAW_LIMIT 3

/* Exit codes of the helper itself when it cannot report (seen only in the agent's log). */
#define EXIT_USAGE 2
#define EXIT_NO_REPORT 3

struct options {
  const char *root;
  const char *cwd;
  const char *pwd;
  int has_credentials;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  int tty;
  char **argv;
};

static int report_fd = -1;

static void die_usage(const char *message) {
  fprintf(stderr, "hypeman-exec-spawn: %s (this program is started by hypeman-exec-agent)\n", message);
  exit(EXIT_USAGE);
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return; /* The agent is gone; nothing more to tell. */
    }
    buf += n;
    len -= (size_t)n;
  }
}

static void report(const char *format, ...) {
  char line[512];
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(line, sizeof line - 1, format, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  write_all(report_fd, line, (size_t)n);
}

static unsigned long parse_number(const char *text, unsigned long max, const char *what) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v > max || text[0] == '-') {
    char message[128];
    snprintf(message, sizeof message, "%s must be a number from 0 to %lu", what, max);
    die_usage(message);
  }
  return v;
}

static void parse_groups(struct options *o, const char *text) {
  o->groups = calloc(MAX_GROUPS, sizeof(gid_t));
  if (o->groups == NULL) die_usage("out of memory");
  char *copy = strdup(text);
  if (copy == NULL) die_usage("out of memory");
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    if (o->ngroups == MAX_GROUPS) die_usage("too many groups");
    o->groups[o->ngroups++] = (gid_t)parse_number(tok, 0xfffffffeUL, "a group id");
  }
  free(copy);
}

static void parse_options(struct options *o, int argc, char **argv) {
  int have_uid = 0, have_gid = 0, have_groups = 0;
  memset(o, 0, sizeof *o);
  o->root = "/";
  o->cwd = "/";
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--tty") == 0) {
      o->tty = 1;
      continue;
    }
    if (i + 1 >= argc) die_usage("an option is missing its value");
    const char *v = argv[++i];
    if (strcmp(a, "--root") == 0) o->root = v;
    else if (strcmp(a, "--cwd") == 0) o->cwd = v;
    else if (strcmp(a, "--pwd") == 0) o->pwd = v;
    else if (strcmp(a, "--uid") == 0) { o->uid = (uid_t)parse_number(v, 0xfffffffeUL, "--uid"); have_uid = 1; }
    else if (strcmp(a, "--gid") == 0) { o->gid = (gid_t)parse_number(v, 0xfffffffeUL, "--gid"); have_gid = 1; }
    else if (strcmp(a, "--groups") == 0) { parse_groups(o, v); have_groups = 1; }
    else die_usage("unknown option");
  }
  if (have_uid || have_gid || have_groups) {
    if (!(have_uid && have_gid && have_groups)) die_usage("--uid, --gid and --groups go together");
    o->has_credentials = 1;
  }
  if (i >= argc) die_usage("no command after --");
  o->argv = &argv[i];
}

static void connect_report_socket(void) {
  const char *name = getenv("HYPEMAN_EXEC_REPORT");
  const char *token = getenv("HYPEMAN_EXEC_TOKEN");
  if (name == NULL || token == NULL) die_usage("HYPEMAN_EXEC_REPORT and HYPEMAN_EXEC_TOKEN must be set");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t len = strlen(name);
  if (len == 0 || len >= sizeof addr.sun_path - 1) die_usage("HYPEMAN_EXEC_REPORT is not a valid socket name");
  memcpy(addr.sun_path + 1, name, len); /* abstract namespace: leading NUL */
  report_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  /* Node 20 binds abstract names padded with NULs to the whole sun_path; others bind the
     exact length. Try both. */
  int ok = report_fd >= 0 && connect(report_fd, (struct sockaddr *)&addr, sizeof addr) == 0;
  if (!ok && report_fd >= 0 && errno == ECONNREFUSED) {
    socklen_t exact = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    ok = connect(report_fd, (struct sockaddr *)&addr, exact) == 0;
  }
  if (!ok) {
    fprintf(stderr, "hypeman-exec-spawn: cannot reach the agent's report socket: %s\n", strerror(errno));
    exit(EXIT_NO_REPORT);
  }
  report("hello %s", token);
  unsetenv("HYPEMAN_EXEC_REPORT");
  unsetenv("HYPEMAN_EXEC_TOKEN");
}

static void set_signal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and libc-reserved numbers */
}

/* Sends the failure through the close-on-exec pipe (struct child_failure) and exits. */
static void child_fail(int pipe_fd, const struct child_failure *f) {
  write_all(pipe_fd, (const char *)f, sizeof *f);
  _exit(127);
}

static void run_child(const struct options *o, int pipe_fd) {
  struct child_failure f;
  if (setpgid(0, 0) != 0) {
    command_fail(&f, STAGE_CREDENTIALS, errno, 0);
    child_fail(pipe_fd, &f);
  }
  if (o->tty) {
    /* Become the terminal's foreground job; SIGTTOU would stop a background caller. */
    set_signal(SIGTTOU, SIG_IGN);
    tcsetpgrp(STDIN_FILENO, getpid());
  }
  struct credentials c = {o->has_credentials, o->uid, o->gid, o->groups, o->ngroups};
  if (set_credentials(&c, &f) != 0 || enter_cwd(o->cwd, &f) != 0) child_fail(pipe_fd, &f);
  if (o->pwd != NULL) setenv("PWD", o->pwd, 1);
  else unsetenv("PWD");
  reset_signals();
  cloexec_from_3();
  exec_command(o->argv, environ, getenv("PATH"), &f);
  child_fail(pipe_fd, &f);
}

static void report_failure(enum stage stage, int err, int exists) {
  report("failed %s %d %d %s", stage_names[stage], err, exists, strerror(err));
}

/* After stdin-closed: asks for a ^D whenever everything typed into the terminal has been read. */
struct eof_keeper {
  int active;
  int wait_ms;
  int canonical; /* the terminal's mode when last seen: 1 canonical, 0 raw, -1 not yet */
  int raw_requests;
};

static void keep_eof(struct eof_keeper *k, int tty_fd) {
  struct termios t;
  if (tcgetattr(tty_fd, &t) != 0) {
    k->active = 0; /* hung up: nothing can be typed any more */
    return;
  }
  int canonical = (t.c_lflag & ICANON) != 0;
  if (canonical != k->canonical) {
    k->canonical = canonical;
    k->raw_requests = 0;
    k->wait_ms = EOF_FIRST_WAIT_MS;
  }
  /* POLLIN on the terminal side: a line, a byte or an end-of-file mark is still unread. */
  struct pollfd p = {.fd = tty_fd, .events = POLLIN};
  int pending = poll(&p, 1, 0) != 0;
  if (!pending && (canonical || k->raw_requests < EOF_RAW_LIMIT)) {
    report("type-eof");
    if (!canonical) k->raw_requests++;
  }
}

/* Takes the agent's lines while the command runs; 0 once the agent closed the socket. */
static int read_requests(struct eof_keeper *k, char *line, size_t *len, size_t cap) {
  char buf[256];
  ssize_t n = read(report_fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return 0;
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] != '\n') {
      if (*len < cap - 1) line[(*len)++] = buf[i];
      continue;
    }
    line[*len] = '\0';
    *len = 0;
    if (strcmp(line, "stdin-closed") == 0 && !k->active) {
      k->active = 1;
      k->wait_ms = EOF_FIRST_WAIT_MS;
    }
  }
  return 1;
}

/*
 * Waits for the command while serving the agent's requests (see the header comment).
 * Returns 1 with the wait status, 0 if the command could not be waited for.
 */
static int wait_command(pid_t pid, int tty_fd, const sigset_t *sigchld, int *status) {
  int sig_fd = signalfd(-1, sigchld, SFD_CLOEXEC | SFD_NONBLOCK);
  struct eof_keeper keeper = {.active = 0, .wait_ms = EOF_FIRST_WAIT_MS, .canonical = -1, .raw_requests = 0};
  char line[64];
  size_t len = 0;
  struct pollfd fds[2] = {{.fd = tty_fd >= 0 ? report_fd : -1, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
  int reaped = 0;
  for (;;) {
    /* Without a signalfd (not expected on Linux) the helper just blocks here, serving nothing. */
    pid_t r = waitpid(pid, status, sig_fd >= 0 ? WNOHANG : 0);
    if (r == pid) {
      reaped = 1;
      break;
    }
    if (r < 0 && errno != EINTR) break;
    int timeout = -1;
    if (keeper.active) keep_eof(&keeper, tty_fd);
    if (keeper.active) {
      /* At least EOF_FIRST_WAIT_MS: the ^D just asked for has to arrive before the next look. */
      timeout = keeper.wait_ms;
      keeper.wait_ms = keeper.wait_ms * 2 > EOF_MAX_WAIT_MS ? EOF_MAX_WAIT_MS : keeper.wait_ms * 2;
    }
    if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
      /* Cannot wait for two things: wait for the command alone (blocking waitpid). */
      close(sig_fd);
      sig_fd = -1;
      continue;
    }
    if (fds[1].revents != 0) {
      struct signalfd_siginfo info;
      while (read(sig_fd, &info, sizeof info) > 0) {}
    }
    /* The agent gone before the exit: nothing more to serve, the command is still reaped. */
    if (fds[0].revents != 0 && !read_requests(&keeper, line, &len, sizeof line)) fds[0].fd = -1;
  }
  if (sig_fd >= 0) close(sig_fd);
  return reaped;
}

/* Blocks until the agent closes the report socket: it has finished with the session. */
static void wait_for_release(void) {
  char buf[256];
  for (;;) {
    ssize_t n = read(report_fd, buf, sizeof buf);
    if (n == 0) return;
    if (n < 0 && errno != EINTR) return;
  }
}

int main(int argc, char **argv) {
  struct options o;
  parse_options(&o, argc, argv);
  connect_report_socket();

  /* Signals a terminal or a hang-up sends to its session leader are not for the helper. */
  static const int ignored[] = {SIGHUP, SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE};
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) set_signal(ignored[i], SIG_IGN);

  if (strcmp(o.root, "/") != 0) {
    if (chroot(o.root) != 0 || chdir("/") != 0) {
      report_failure(STAGE_CHROOT, errno, 0);
      wait_for_release();
      return 0;
    }
  }

  /* Blocked before the fork so that no exit is missed; the child empties its mask. */
  sigset_t sigchld;
  sigemptyset(&sigchld);
  sigaddset(&sigchld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &sigchld, NULL);

  int fail_pipe[2];
  if (pipe2(fail_pipe, O_CLOEXEC) != 0) {
    report_failure(STAGE_FORK, errno, 0);
    wait_for_release();
    return 0;
  }
  pid_t pid = fork();
  if (pid < 0) {
    report_failure(STAGE_FORK, errno, 0);
    wait_for_release();
    return 0;
  }
  if (pid == 0) {
    close(fail_pipe[0]);
    run_child(&o, fail_pipe[1]);
  }
  close(fail_pipe[1]);
  /* With a terminal, one descriptor of it is kept while the command runs, to look at its
     input (closed before the exit is reported, so end of file is not delayed by it). */
  int tty_fd = o.tty ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : -1;
  /* The command holds the stdio now; the helper's copies would delay end of file. */
  close(STDIN_FILENO);
  close(STDOUT_FILENO);
  close(STDERR_FILENO);

  struct child_failure failure;
  ssize_t got;
  do got = read(fail_pipe[0], &failure, sizeof failure);
  while (got < 0 && errno == EINTR);
  close(fail_pipe[0]);

  int status;
  if (got == (ssize_t)sizeof failure) {
    if (tty_fd >= 0) close(tty_fd);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    report_failure((enum stage)failure.stage, failure.err, failure.exists);
    wait_for_release();
    return 0;
  }

  report("started %d", (int)pid);
  int reaped = wait_command(pid, tty_fd, &sigchld, &status);
  if (tty_fd >= 0) close(tty_fd);
  if (reaped) {
    if (WIFSIGNALED(status)) report("signaled %d %d", WTERMSIG(status), WCOREDUMP(status) ? 1 : 0);
    else report("exited %d", WEXITSTATUS(status));
  }
  wait_for_release();
  return 0;
}
