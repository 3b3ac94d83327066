/*
 * hypeman-vm-client: the VM test's client, run inside a real guest as the container's
 * ENTRYPOINT (started by /init like any workload). Written from spec/PROTOCOL.md alone, in C
 * and static, because the container root is busybox without libc or Node.
 *
 *   hypeman-vm-client acceptance LOADER LIBDIR NODE LAUNCHER ADDON
 *   hypeman-vm-client baseline
 *   hypeman-vm-client startup LOADER LIBDIR NODE ADDON LAUNCHER...
 *
 * acceptance: connects AF_VSOCK to CID 1 (vsock loopback inside the guest) port 2222, where
 * /init's agent listens, and runs the exec acceptance cases (argv, stdin with a checksum,
 * stderr apart, exit codes 0, 7 and 127, a signal, a TTY with its size and a resize, user,
 * cwd, env, a timeout, the agent killed and restarted by /init). Along the way it measures:
 * when the agent and this client started (their /proc start times), when the agent
 * first accepted a connection and answered Exit, the guest's memory after one session (page
 * cache dropped), the agent's RSS, and, in this same guest, `node -e 0` against a second
 * agent's start (process start to its first accepted connection).
 *
 * baseline: only the memory figures, for a guest booted the same way without the agent.
 *
 * startup: `node -e 0` and each launcher's start (to its first accepted connection on vsock
 * port 2223), five runs each: how docs/vm.md compared bundles and Node flags in the guest.
 *
 * Either way it prints one line, `HYPEMAN_VM_RESULT {json}`, on stdout (the console), and
 * exits 0 when every case passed; /init then powers the VM off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define AGENT_PORT 2222
#define SECOND_AGENT_PORT 2223
#define LOOPBACK_CID 1 /* VMADDR_CID_LOCAL: the guest itself, through vsock_loopback */

enum {
  T_EXEC_START = 0x01, T_STDIN = 0x02, T_STDIN_CLOSE = 0x03, T_WINDOW_SIZE = 0x04, T_SIGNAL = 0x05,
  T_STARTED = 0x10, T_STDOUT = 0x11, T_STDERR = 0x12, T_EXIT = 0x13, T_ERROR = 0x20, T_PING = 0x21,
};

/* ---------- small utilities ---------- */

static double uptime_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

struct buf {
  char *data;
  size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) abort();
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
}

static void buf_printf(struct buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  buf_add(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void buf_json_string(struct buf *b, const char *s, size_t n) {
  buf_add(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') buf_printf(b, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f) buf_printf(b, "\\u%04x", c);
    else buf_add(b, &s[i], 1);
  }
  buf_add(b, "\"", 1);
}

static void buf_free(struct buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

static int read_file(const char *path, char *out, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  ssize_t n;
  while (len + 1 < cap && (n = read(fd, out + len, cap - 1 - len)) > 0) len += (size_t)n;
  close(fd);
  out[len] = 0;
  return (int)len;
}

/* A process's start time in seconds since boot (field 22 of /proc/PID/stat), or -1. */
static double process_start(pid_t pid) {
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_file(path, text, sizeof text) <= 0) return -1;
  char *p = strrchr(text, ')'); /* the command name may hold spaces */
  if (!p) return -1;
  unsigned long long start = 0;
  int field = 2;
  for (char *t = strtok(p + 1, " "); t; t = strtok(NULL, " ")) {
    if (++field == 22) {
      start = strtoull(t, NULL, 10);
      break;
    }
  }
  return (double)start / (double)sysconf(_SC_CLK_TCK);
}

/* The pid of the agent listening on `port` (its command line names the payload's agent bundle and the port), or 0. */
static pid_t find_agent(int port) {
  char wanted[32];
  snprintf(wanted, sizeof wanted, "vsock:%d", port);
  DIR *proc = opendir("/proc");
  pid_t found = 0;
  struct dirent *e;
  while (proc && (e = readdir(proc))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], cmdline[4096];
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    int n = read_file(path, cmdline, sizeof cmdline);
    if (n <= 0) continue;
    int has_bundle = 0, has_port = 0;
    for (char *a = cmdline; a < cmdline + n; a += strlen(a) + 1) {
      if (strstr(a, "/.hypeman/agent.")) has_bundle = 1;
      if (strcmp(a, wanted) == 0) has_port = 1;
    }
    if (has_bundle && has_port) found = (pid_t)atoi(e->d_name);
  }
  if (proc) closedir(proc);
  return found;
}

/* ---------- the protocol (spec/PROTOCOL.md §2, §4) ---------- */

static void put_u16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static void put_u32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = (uint8_t)v; }
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get_u32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) << 32 | get_u32(p + 4); }

struct request {
  const char *argv[8];
  const char *env[4];
  const char *cwd, *user;
  int tty;
  uint32_t timeout;
  uint16_t rows, cols;
};

static void field(struct buf *b, uint8_t tag, const void *value, uint32_t n) {
  uint8_t h[5];
  h[0] = tag;
  put_u32(h + 1, n);
  buf_add(b, h, 5);
  buf_add(b, value, n);
}

/* ExecStart's payload in the canonical order of §4.1.2: fields by ascending tag, defaults omitted. */
static void encode_exec_start(const struct request *r, struct buf *b) {
  uint8_t version[2];
  put_u16(version, 1);
  buf_add(b, version, 2);
  for (int i = 0; i < 8 && r->argv[i]; i++) field(b, 0x01, r->argv[i], (uint32_t)strlen(r->argv[i]));
  for (int i = 0; i < 4 && r->env[i]; i++) field(b, 0x02, r->env[i], (uint32_t)strlen(r->env[i]));
  if (r->cwd) field(b, 0x03, r->cwd, (uint32_t)strlen(r->cwd));
  if (r->user) field(b, 0x04, r->user, (uint32_t)strlen(r->user));
  if (r->tty) {
    uint8_t one = 1;
    field(b, 0x05, &one, 1);
  }
  if (r->timeout) {
    uint8_t t[4];
    put_u32(t, r->timeout);
    field(b, 0x06, t, 4);
  }
  if (r->rows) {
    uint8_t w[4];
    put_u16(w, r->rows);
    put_u16(w + 2, r->cols);
    field(b, 0x07, w, 4);
  }
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *q = p;
  while (n > 0) {
    ssize_t w = write(fd, q, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      poll(&pfd, 1, 1000);
      continue;
    }
    if (w <= 0) return -1;
    q += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_frame(int fd, uint8_t type, const void *payload, uint32_t n) {
  uint8_t h[5];
  put_u32(h, n);
  h[4] = type;
  if (write_all(fd, h, 5) < 0) return -1;
  return n ? write_all(fd, payload, n) : 0;
}

static int vsock_connect(int port) {
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_cid = LOOPBACK_CID, .svm_port = (unsigned)port};
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* Connects, retrying every 5 ms until `timeout_ms` has passed (the agent may still be starting). */
static int connect_when_listening(int port, int timeout_ms) {
  double deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    int fd = vsock_connect(port);
    if (fd >= 0 || monotonic_ms() > deadline) return fd;
    sleep_ms(5);
  }
}

/* One session's frames as they came, and how it ended. */
struct outcome {
  int connect_error;
  int started;
  uint32_t pid;
  int exited; /* an Exit frame arrived */
  int kind, code, signal;
  uint64_t stdout_bytes, stderr_bytes;
  int error_code; /* an Error frame arrived */
  char error_message[256];
  int broken; /* the connection ended before Exit or Error */
  struct buf out, err;
  double exit_uptime;
  int resized, signalled; /* steps taken by hooks */
};

struct session;
typedef void (*hook_fn)(struct session *s);

struct session {
  int fd;
  struct outcome *o;
  hook_fn hook; /* called after every frame received */
};

static void send_stdin_frames(int fd, const uint8_t *data, size_t n) {
  for (size_t at = 0; at < n; at += 65536) {
    uint32_t chunk = (uint32_t)(n - at < 65536 ? n - at : 65536);
    if (send_frame(fd, T_STDIN, data + at, chunk) < 0) return;
  }
}

/* Runs one session to its end: ExecStart, the stdin given (then StdinClose), frames until Exit or Error. */
static void run_session(const struct request *r, const uint8_t *in, size_t in_len, int close_stdin, hook_fn hook, int timeout_ms, struct outcome *o) {
  memset(o, 0, sizeof *o);
  int fd = vsock_connect(AGENT_PORT);
  if (fd < 0) {
    o->connect_error = -fd;
    return;
  }
  struct buf start = {0};
  encode_exec_start(r, &start);
  send_frame(fd, T_EXEC_START, start.data, (uint32_t)start.len);
  buf_free(&start);
  /* The agent reads stdin as the command does; a writer thread is not needed for the sizes here
     (the command's output is small), so stdin is written before reading. */
  if (in_len) send_stdin_frames(fd, in, in_len);
  if (close_stdin) send_frame(fd, T_STDIN_CLOSE, NULL, 0);

  struct session s = {fd, o, hook};
  struct buf rx = {0};
  double deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    /* complete frames first */
    while (rx.len >= 5) {
      uint32_t len = get_u32((uint8_t *)rx.data);
      uint8_t type = (uint8_t)rx.data[4];
      if (rx.len < 5 + (size_t)len) break;
      const uint8_t *p = (uint8_t *)rx.data + 5;
      switch (type) {
        case T_STARTED: o->started = 1; o->pid = len >= 6 ? get_u32(p + 2) : 0; break;
        case T_STDOUT: buf_add(&o->out, p, len); break;
        case T_STDERR: buf_add(&o->err, p, len); break;
        case T_EXIT:
          if (len == 20) {
            o->exited = 1;
            o->kind = p[0], o->code = p[1], o->signal = p[2];
            o->stdout_bytes = get_u64(p + 4), o->stderr_bytes = get_u64(p + 12);
            o->exit_uptime = uptime_now();
          }
          break;
        case T_ERROR:
          if (len >= 4) {
            o->error_code = get_u16(p);
            uint16_t m = get_u16(p + 2);
            if (m > len - 4) m = (uint16_t)(len - 4);
            snprintf(o->error_message, sizeof o->error_message, "%.*s", (int)m, (const char *)p + 4);
          }
          break;
        case T_PING: send_frame(fd, 0x22, p, len); break;
        default: break;
      }
      memmove(rx.data, rx.data + 5 + len, rx.len - 5 - len);
      rx.len -= 5 + len;
      if (o->exited || o->error_code) goto done;
      if (hook) hook(&s);
    }
    int wait = (int)(deadline - monotonic_ms());
    if (wait <= 0) {
      snprintf(o->error_message, sizeof o->error_message, "no Exit within %d ms", timeout_ms);
      o->broken = 1;
      goto done;
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, wait) <= 0) continue;
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      o->broken = 1;
      snprintf(o->error_message, sizeof o->error_message, "connection ended before Exit (%s)", n < 0 ? strerror(errno) : "EOF");
      goto done;
    }
    buf_add(&rx, chunk, (size_t)n);
  }
done:
  buf_free(&rx);
  close(fd);
}

static void free_outcome(struct outcome *o) {
  buf_free(&o->out);
  buf_free(&o->err);
}

/* ---------- checks ---------- */

struct report {
  struct buf cases;
  int count, failed;
};

static struct report report;

static void describe(struct buf *d, const struct outcome *o) {
  buf_printf(d, "connect_error=%d started=%d pid=%u exited=%d kind=%d code=%d signal=%d error=%d '%s' stdout=", o->connect_error, o->started, o->pid, o->exited, o->kind, o->code, o->signal, o->error_code, o->error_message);
  buf_add(d, o->out.data ? o->out.data : "", o->out.len > 200 ? 200 : o->out.len);
  buf_add(d, " stderr=", 8);
  buf_add(d, o->err.data ? o->err.data : "", o->err.len > 200 ? 200 : o->err.len);
}

static void record(const char *name, int ok, double ms, const struct outcome *o, const char *why) {
  struct buf *c = &report.cases;
  buf_printf(c, "%s{\"name\":\"%s\",\"ok\":%s,\"ms\":%.1f", report.count++ ? "," : "", name, ok ? "true" : "false", ms);
  if (!ok) {
    struct buf d = {0};
    buf_printf(&d, "%s; ", why);
    if (o) describe(&d, o);
    buf_add(c, ",\"detail\":", 10);
    buf_json_string(c, d.data, d.len);
    buf_free(&d);
    report.failed++;
  }
  buf_add(c, "}", 1);
}

static int output_is(const struct buf *b, const char *want) {
  return b->len == strlen(want) && (b->len == 0 || memcmp(b->data, want, b->len) == 0);
}

static int exited_with(const struct outcome *o, int code) { return o->exited && o->kind == 0 && o->code == code; }

/* Runs `r` and records the case `name` as passed when `check` holds. */
#define CASE(name, r, in, in_len, hook, check, why)              \
  do {                                                           \
    struct outcome o;                                            \
    double t0 = monotonic_ms();                                  \
    run_session(&(r), (in), (in_len), !(r).tty, (hook), 30000, &o); \
    record((name), (check), monotonic_ms() - t0, &o, (why));     \
    free_outcome(&o);                                            \
  } while (0)

/* CRC-32 as zlib and busybox's crc32 compute it (reflected, polynomial 0xEDB88320). */
static uint32_t crc32(const uint8_t *p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

static void on_started_send_sigterm(struct session *s) {
  if (s->o->started && !s->o->signalled) {
    uint8_t sig = 15;
    send_frame(s->fd, T_SIGNAL, &sig, 1);
    s->o->signalled = 1;
  }
}

/* TTY: once the first `stty size` shows the initial window, resize it and let the script go on. */
static void resize_after_first_size(struct session *s) {
  if (!s->o->resized && s->o->out.data && strstr(s->o->out.data, "33 101")) {
    uint8_t w[4];
    put_u16(w, 44);
    put_u16(w + 2, 120);
    send_frame(s->fd, T_WINDOW_SIZE, w, 4);
    send_frame(s->fd, T_STDIN, "\r", 1);
    s->o->resized = 1;
  }
}

/* ---------- memory ---------- */

static void add_meminfo(struct buf *j, const char *key) {
  char text[8192];
  static const char *fields[] = {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Shmem", "AnonPages", "Mapped", "Slab", "KernelStack", "PageTables"};
  buf_printf(j, "\"%s\":{", key);
  read_file("/proc/meminfo", text, sizeof text);
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    char *at = strstr(text, fields[i]);
    long kb = -1;
    if (at && at[strlen(fields[i])] == ':') kb = strtol(at + strlen(fields[i]) + 1, NULL, 10);
    buf_printf(j, "%s\"%s\":%ld", i ? "," : "", fields[i], kb);
  }
  buf_add(j, "}", 1);
}

static void add_process_memory(struct buf *j, const char *key, pid_t pid) {
  char path[64], text[4096];
  static const char *fields[] = {"VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"};
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  int n = read_file(path, text, sizeof text);
  buf_printf(j, "\"%s\":{\"pid\":%d", key, (int)pid);
  for (size_t i = 0; n > 0 && i < sizeof fields / sizeof *fields; i++) {
    char *at = strstr(text, fields[i]);
    if (at && at[strlen(fields[i])] == ':') buf_printf(j, ",\"%s\":%ld", fields[i], strtol(at + strlen(fields[i]) + 1, NULL, 10));
  }
  buf_add(j, "}", 1);
}

/* The guest's memory as the kernel would give it out: page cache dropped, after a pause. */
static void settle_memory(void) {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, "3\n", 2) < 0) perror("drop_caches");
    close(fd);
  }
  sleep_ms(500);
}

/* ---------- timing processes started here ---------- */

static char *const agent_env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", NULL, NULL};

static pid_t spawn(char *const argv[], char *const envp[]) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  return pid;
}

/* ms from fork to the exit of `node -e 0` (the payload's node, through its loader), or -1. */
static double time_node_e0(char *loader, char *libdir, char *node) {
  char *argv[] = {loader, "--library-path", libdir, node, "-e", "0", NULL};
  double t0 = monotonic_ms();
  pid_t pid = spawn(argv, agent_env);
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return monotonic_ms() - t0;
}

/* ms from fork to the first connection a second agent (the launcher /init uses) accepts, or -1. */
static double time_agent_start(char *launcher, char *addon) {
  char addon_env[512];
  snprintf(addon_env, sizeof addon_env, "HYPEMAN_VSOCK_ADDON=%s", addon);
  char *envp[] = {agent_env[0], agent_env[1], addon_env, NULL};
  char port[32];
  snprintf(port, sizeof port, "vsock:%d", SECOND_AGENT_PORT);
  char *argv[] = {launcher, "--listen", port, "--root", "/", "--log-level", "warn", NULL};
  double t0 = monotonic_ms();
  pid_t pid = spawn(argv, envp);
  if (pid < 0) return -1;
  int fd = connect_when_listening(SECOND_AGENT_PORT, 60000);
  double ms = monotonic_ms() - t0;
  if (fd >= 0) close(fd);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  return fd >= 0 ? ms : -1;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void add_series(struct buf *j, const char *key, double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, compare_doubles);
  buf_printf(j, ",\"%s\":{\"median\":%.1f,\"runs\":[", key, v[n / 2]);
  for (int i = 0; i < n; i++) buf_printf(j, "%s%.1f", i ? "," : "", v[i]);
  buf_add(j, "]}", 2);
}

/* ---------- main ---------- */

static void emit(struct buf *j) {
  buf_add(j, "\n", 1);
  /* one write: the line reaches the console whole */
  if (write_all(1, j->data, j->len) < 0) perror("write");
}

/* startup LOADER LIBDIR NODE ADDON LAUNCHER...: `node -e 0` and each launcher's start, five runs each (for choosing Node flags). */
static int startup(int argc, char **argv) {
  struct buf j = {0};
  double runs[5];
  buf_printf(&j, "HYPEMAN_VM_RESULT {\"mode\":\"startup\",\"ok\":true");
  for (int i = 0; i < 5; i++) runs[i] = time_node_e0(argv[0], argv[1], argv[2]);
  add_series(&j, "node -e 0", runs, 5);
  for (int l = 4; l < argc; l++) {
    for (int i = 0; i < 5; i++) runs[i] = time_agent_start(argv[l], argv[3]);
    add_series(&j, argv[l], runs, 5);
  }
  buf_add(&j, "}", 1);
  emit(&j);
  return 0;
}

static int baseline(double client_start) {
  settle_memory();
  struct buf j = {0};
  buf_printf(&j, "HYPEMAN_VM_RESULT {\"mode\":\"baseline\",\"ok\":true,\"uptime\":{\"client\":%.2f},", client_start);
  add_meminfo(&j, "memory");
  buf_add(&j, "}", 1);
  emit(&j);
  return 0;
}

int main(int argc, char **argv) {
  double client_start = uptime_now();
  setvbuf(stdout, NULL, _IONBF, 0);
  signal(SIGPIPE, SIG_IGN);
  if (argc == 2 && strcmp(argv[1], "baseline") == 0) return baseline(client_start);
  if (argc >= 6 && strcmp(argv[1], "startup") == 0) return startup(argc - 2, argv + 2);
  if (argc != 7 || strcmp(argv[1], "acceptance") != 0) {
    fprintf(stderr, "usage: %s acceptance LOADER LIBDIR NODE LAUNCHER ADDON | baseline\n", argv[0]);
    return 2;
  }
  char *loader = argv[2], *libdir = argv[3], *node = argv[4], *launcher = argv[5], *addon = argv[6];
  struct buf j = {0};

  /* When the agent first accepts a connection, and answers a first command. */
  int probe = connect_when_listening(AGENT_PORT, 60000);
  double listening = uptime_now();
  if (probe >= 0) close(probe);
  pid_t agent = find_agent(AGENT_PORT);
  struct request r_true = {.argv = {"true"}};
  struct outcome first;
  double t0 = monotonic_ms();
  run_session(&r_true, NULL, 0, 1, NULL, 30000, &first);
  record("exit 0 (the first command)", exited_with(&first, 0) && first.started && first.pid > 0, monotonic_ms() - t0, &first, probe < 0 ? "the agent never accepted a connection" : "want Started with a pid, then Exit 0");

  buf_printf(&j, "HYPEMAN_VM_RESULT {\"mode\":\"acceptance\",\"uptime\":{\"agent\":%.2f,\"client\":%.2f,\"listening\":%.2f,\"firstExit\":%.2f}",
             agent ? process_start(agent) : -1.0, client_start, probe >= 0 ? listening : -1.0, first.exited ? first.exit_uptime : -1.0);
  free_outcome(&first);

  /* Memory with the agent idle after one session, as in the baseline. */
  settle_memory();
  buf_add(&j, ",", 1);
  add_meminfo(&j, "memory");
  buf_add(&j, ",", 1);
  add_process_memory(&j, "agentMemory", agent);

  /* The acceptance cases. */
  struct request r_argv = {.argv = {"printf", "[%s]", "a b", "", "c'd$e\\n"}};
  CASE("argv kept word for word", r_argv, NULL, 0, NULL, exited_with(&o, 0) && output_is(&o.out, "[a b][][c'd$e\\n]"), "want [a b][][c'd$e\\n]");

  size_t in_len = 1 << 20;
  uint8_t *in = malloc(in_len);
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < in_len; i++) x ^= x << 13, x ^= x >> 17, x ^= x << 5, in[i] = (uint8_t)x;
  char want_sum[64];
  snprintf(want_sum, sizeof want_sum, "%08x\n", crc32(in, in_len));
  struct request r_crc = {.argv = {"crc32"}};
  CASE("stdin: 1 MiB through crc32", r_crc, in, in_len, NULL, exited_with(&o, 0) && output_is(&o.out, want_sum), want_sum);
  free(in);

  struct request r_streams = {.argv = {"sh", "-c", "echo out; echo err >&2; echo out2"}};
  CASE("stderr apart from stdout", r_streams, NULL, 0, NULL,
       exited_with(&o, 0) && output_is(&o.out, "out\nout2\n") && output_is(&o.err, "err\n") && o.stdout_bytes == 9 && o.stderr_bytes == 4, "want out\\nout2\\n, err\\n and the byte counts 9 and 4");

  struct request r_seven = {.argv = {"sh", "-c", "exit 7"}};
  CASE("exit 7", r_seven, NULL, 0, NULL, exited_with(&o, 7), "want Exit 7");

  struct request r_missing = {.argv = {"no-such-command"}};
  CASE("exit 127 (not found)", r_missing, NULL, 0, NULL, exited_with(&o, 127) && o.started && o.pid == 0 && o.err.data && strstr(o.err.data, "not found"), "want Started pid 0, 'not found' on stderr, Exit 127");

  struct request r_signal = {.argv = {"sleep", "30"}};
  CASE("a signal (SIGTERM)", r_signal, NULL, 0, on_started_send_sigterm, o.exited && o.kind == 1 && o.signal == 15 && o.code == 143, "want Exit kind 1, signal 15, code 143");

  struct request r_tty = {.argv = {"sh", "-c", "[ -t 0 ] && echo tty; stty size; read line; stty size"}, .tty = 1, .rows = 33, .cols = 101};
  CASE("TTY: its size, then a resize", r_tty, NULL, 0, resize_after_first_size, exited_with(&o, 0) && o.resized && o.out.data && strstr(o.out.data, "tty\r\n33 101\r\n") && strstr(o.out.data, "44 120\r\n"), "want tty, 33 101, then 44 120");

  struct request r_user = {.argv = {"sh", "-c", "id -u; id -g; echo $HOME"}, .user = "user"};
  CASE("user", r_user, NULL, 0, NULL, exited_with(&o, 0) && output_is(&o.out, "1000\n1000\n/home/user\n"), "want 1000, 1000, /home/user");

  struct request r_cwd = {.argv = {"pwd"}, .cwd = "/tmp"};
  CASE("cwd", r_cwd, NULL, 0, NULL, exited_with(&o, 0) && output_is(&o.out, "/tmp\n"), "want /tmp");

  struct request r_env = {.argv = {"sh", "-c", "printf %s \"$GREETING\""}, .env = {"GREETING=hello from the host"}};
  CASE("env", r_env, NULL, 0, NULL, exited_with(&o, 0) && output_is(&o.out, "hello from the host"), "want hello from the host");

  struct request r_timeout = {.argv = {"sleep", "30"}, .timeout = 1};
  CASE("timeout (124)", r_timeout, NULL, 0, NULL, o.exited && o.kind == 2 && o.code == 124, "want Exit kind 2, code 124");

  struct request r_stdout = {.argv = {"head", "-c", "4194304", "/dev/zero"}};
  double big_ms;
  {
    struct outcome o;
    double s0 = monotonic_ms();
    run_session(&r_stdout, NULL, 0, 1, NULL, 60000, &o);
    big_ms = monotonic_ms() - s0;
    record("stdout: 4 MiB", exited_with(&o, 0) && o.out.len == 4194304 && o.stdout_bytes == 4194304, big_ms, &o, "want 4194304 bytes");
    free_outcome(&o);
  }
  buf_printf(&j, ",\"stdout4MiBms\":%.1f", big_ms);

  settle_memory();
  buf_add(&j, ",", 1);
  add_meminfo(&j, "memoryAfterCases");
  buf_add(&j, ",", 1);
  add_process_memory(&j, "agentMemoryAfterCases", agent);

  /* The agent's start against `node -e 0`, in this same guest, three runs each. */
  double node_runs[3], agent_runs[3];
  for (int i = 0; i < 3; i++) node_runs[i] = time_node_e0(loader, libdir, node);
  for (int i = 0; i < 3; i++) agent_runs[i] = time_agent_start(launcher, addon);
  add_series(&j, "nodeE0ms", node_runs, 3);
  add_series(&j, "agentStartMs", agent_runs, 3);

  /* Last: the agent killed; /init restarts it, and a new session works. */
  {
    struct outcome o = {0};
    double k0 = monotonic_ms();
    int ok = agent > 0 && kill(agent, SIGKILL) == 0;
    pid_t again = 0;
    if (ok) {
      int fd = -1;
      for (double deadline = monotonic_ms() + 45000; monotonic_ms() < deadline;) {
        again = find_agent(AGENT_PORT);
        if (again > 0 && again != agent && (fd = connect_when_listening(AGENT_PORT, 100)) >= 0) break;
        sleep_ms(20);
      }
      if (fd >= 0) close(fd);
      run_session(&r_true, NULL, 0, 1, NULL, 30000, &o);
    }
    double ms = monotonic_ms() - k0;
    record("the agent killed, restarted by /init", ok && again > 0 && again != agent && exited_with(&o, 0), ms, &o, "want a new agent process answering Exit 0");
    buf_printf(&j, ",\"restartMs\":%.1f", ms);
    free_outcome(&o);
  }

  buf_printf(&j, ",\"ok\":%s,\"cases\":[", report.failed ? "false" : "true");
  buf_add(&j, report.cases.data, report.cases.len);
  buf_add(&j, "]}", 2);
  emit(&j);
  return report.failed ? 1 : 0;
}
