/*
 * The agent's spawner (src/guest/command/Spawner.ts): starts a command without a terminal
 * straight from the agent's process, as posix_spawn does — clone(CLONE_VM | CLONE_VFORK), so
 * nothing of the agent's ~50 MiB is copied and the agent's thread waits only until the
 * command's execve — in the container root, as its user, in a session of its own, with three
 * new Unix socket pairs as its stdio (as libuv gives a child). Linked into the agent's native
 * module (src/vsock/native/binding.gyp), which the guest image already ships and loads.
 *
 *   spawnCommand(argv, env, root, cwd, credentials)
 *       argv, env ("NAME=value"): string arrays; root: chrooted into unless "/";
 *       credentials: null, or [uid, gid, [group, ...]]
 *     -> { pid, pidfd, stdin, stdout, stderr }   descriptors of the agent's ends (close-on-exec)
 *     -> { stage, errno, fileExists, text }       nothing runs (stage: chroot, fork,
 *                                                  credentials, cwd, exec), child reaped
 *   reap(pid) -> the raw wait status (core-dump bit included), or null while it runs
 *
 * The pidfd tells the agent when to reap (it becomes readable at the exit); libuv and
 * node-pty only ever wait for their own children's pids, so nobody else reaps these.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>

#include "command-exec.h"
#include "spawner.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define MAX_GROUPS 65536

/* The child runs on this stack until it execs; the calling thread is suspended meanwhile
   (CLONE_VFORK), and only the main thread calls in, so one stack serves every spawn. */
static char child_stack[64 * 1024] __attribute__((aligned(16)));

struct spawn_request {
  char **argv;
  char **envp;
  const char *path; /* the command's PATH value, or NULL */
  const char *root;
  const char *cwd;
  struct credentials credentials;
  int stdio[3]; /* the command's ends */
  volatile struct child_failure failure; /* written by the child, in the shared memory */
};

/* Moves the command's ends onto 0, 1, 2 (as libuv does: low ones out of the way first). */
static int setup_stdio(int stdio[3], struct child_failure *f) {
  for (int fd = 0; fd < 3; fd++) {
    if (stdio[fd] < 3 && stdio[fd] != fd) {
      stdio[fd] = fcntl(stdio[fd], F_DUPFD_CLOEXEC, 3);
      if (stdio[fd] < 0) return command_fail(f, STAGE_FORK, errno, 0);
    }
  }
  for (int fd = 0; fd < 3; fd++) {
    int ok = stdio[fd] == fd ? fcntl(fd, F_SETFD, 0) : dup2(stdio[fd], fd);
    if (ok < 0) return command_fail(f, STAGE_FORK, errno, 0);
  }
  return 0;
}

static int child_main(void *arg) {
  struct spawn_request *r = arg;
  struct child_failure f;
  if (setup_stdio(r->stdio, &f) == 0) {
    if (strcmp(r->root, "/") != 0 && (chroot(r->root) != 0 || chdir("/") != 0)) {
      command_fail(&f, STAGE_CHROOT, errno, 0);
    } else if (setsid() < 0) {
      /* Its own session and process group (pgid = pid), away from the agent's terminal if any. */
      command_fail(&f, STAGE_CREDENTIALS, errno, 0);
    } else if (set_credentials(&r->credentials, &f) == 0 && enter_cwd(r->cwd, &f) == 0) {
      reset_signals();
      cloexec_from_3();
      exec_command(r->argv, r->envp, r->path, &f);
    }
  }
  r->failure.stage = f.stage;
  r->failure.err = f.err;
  r->failure.exists = f.exists;
  _exit(127);
}

/* ---- arguments ---------------------------------------------------------------------------- */

static char *get_string(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *s = malloc(length + 1);
  if (s != NULL) napi_get_value_string_utf8(env, value, s, length + 1, &length);
  return s;
}

static void free_strings(char **list) {
  if (list == NULL) return;
  for (char **p = list; *p != NULL; p++) free(*p);
  free(list);
}

/* A NULL-terminated copy of a JS string array, or NULL (an exception is then pending). */
static char **get_strings(napi_env env, napi_value array) {
  uint32_t n;
  if (napi_get_array_length(env, array, &n) != napi_ok) return NULL;
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, array, i, &item) != napi_ok || (list[i] = get_string(env, item)) == NULL) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static int get_id(napi_env env, napi_value value, uint32_t *out) {
  double number;
  if (napi_get_value_double(env, value, &number) != napi_ok || number < 0 || number > 0xfffffffe || number != (uint32_t)number) return -1;
  *out = (uint32_t)number;
  return 0;
}

/* null, or [uid, gid, [groups]] */
static int get_credentials(napi_env env, napi_value value, struct credentials *c, gid_t **groups) {
  napi_valuetype type;
  napi_value uid, gid, list;
  uint32_t n, id;
  memset(c, 0, sizeof *c);
  *groups = NULL;
  if (napi_typeof(env, value, &type) != napi_ok) return -1;
  if (type == napi_null) return 0;
  if (napi_get_element(env, value, 0, &uid) != napi_ok || napi_get_element(env, value, 1, &gid) != napi_ok ||
      napi_get_element(env, value, 2, &list) != napi_ok || napi_get_array_length(env, list, &n) != napi_ok || n > MAX_GROUPS) return -1;
  if (get_id(env, uid, &id) != 0) return -1;
  c->uid = id;
  if (get_id(env, gid, &id) != 0) return -1;
  c->gid = id;
  *groups = calloc(n > 0 ? n : 1, sizeof **groups);
  if (*groups == NULL) return -1;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, list, i, &item) != napi_ok || get_id(env, item, &id) != 0) return -1;
    (*groups)[i] = id;
  }
  c->set = 1;
  c->groups = *groups;
  c->ngroups = n;
  return 0;
}

/* ---- results ------------------------------------------------------------------------------ */

static napi_value set_int(napi_env env, napi_value object, const char *key, int32_t value) {
  napi_value v;
  if (napi_create_int32(env, value, &v) != napi_ok || napi_set_named_property(env, object, key, v) != napi_ok) return NULL;
  return object;
}

static napi_value failure_result(napi_env env, const struct child_failure *f) {
  napi_value result, stage, exists, text;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_string_utf8(env, stage_names[f->stage], NAPI_AUTO_LENGTH, &stage) != napi_ok ||
      napi_set_named_property(env, result, "stage", stage) != napi_ok ||
      napi_get_boolean(env, f->exists != 0, &exists) != napi_ok ||
      napi_set_named_property(env, result, "fileExists", exists) != napi_ok ||
      napi_create_string_utf8(env, strerror(f->err), NAPI_AUTO_LENGTH, &text) != napi_ok ||
      napi_set_named_property(env, result, "text", text) != napi_ok) return NULL;
  return set_int(env, result, "errno", f->err);
}

static void close_pair_ends(int pairs[3][2], int which) {
  for (int i = 0; i < 3; i++) {
    if (pairs[i][which] >= 0) close(pairs[i][which]);
    pairs[i][which] = -1;
  }
}

/* Starts the command; see the header comment. */
static napi_value do_spawn(napi_env env, struct spawn_request *r) {
  struct child_failure f;
  int pairs[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  for (int i = 0; i < 3; i++) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i]) != 0) {
      command_fail(&f, STAGE_FORK, errno, 0);
      close_pair_ends(pairs, 0);
      close_pair_ends(pairs, 1);
      return failure_result(env, &f);
    }
    r->stdio[i] = pairs[i][1];
  }
  r->failure.stage = -1;

  /* No signal handler of the agent may run in the child while it shares the agent's memory. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(child_main, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, r);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close_pair_ends(pairs, 1);

  if (pid < 0) {
    close_pair_ends(pairs, 0);
    command_fail(&f, STAGE_FORK, clone_errno, 0);
    return failure_result(env, &f);
  }
  if (r->failure.stage >= 0) {
    /* The child has exited (or is exiting) without exec: reap it now. */
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    close_pair_ends(pairs, 0);
    f.stage = r->failure.stage;
    f.err = r->failure.err;
    f.exists = r->failure.exists;
    return failure_result(env, &f);
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    /* Running, but the agent could not tell when it ends: stop it rather than lose it. */
    int err = errno, status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    close_pair_ends(pairs, 0);
    command_fail(&f, STAGE_FORK, err, 0);
    return failure_result(env, &f);
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  napi_value result;
  if (napi_create_object(env, &result) != napi_ok || set_int(env, result, "pid", pid) == NULL || set_int(env, result, "pidfd", pidfd) == NULL ||
      set_int(env, result, "stdin", pairs[0][0]) == NULL || set_int(env, result, "stdout", pairs[1][0]) == NULL ||
      set_int(env, result, "stderr", pairs[2][0]) == NULL) {
    /* Cannot hand the command over: end it here. */
    int status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    close(pidfd);
    close_pair_ends(pairs, 0);
    return NULL;
  }
  return result;
}

static const char *command_path(char **envp) {
  for (char **p = envp; *p != NULL; p++) {
    if (strncmp(*p, "PATH=", 5) == 0) return *p + 5;
  }
  return NULL;
}

static napi_value spawn_command(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result = NULL;
  struct spawn_request r;
  gid_t *groups = NULL;
  memset(&r, 0, sizeof r);
  char *root = NULL, *cwd = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5 || (r.argv = get_strings(env, argv[0])) == NULL || r.argv[0] == NULL || (r.envp = get_strings(env, argv[1])) == NULL ||
      (root = get_string(env, argv[2])) == NULL || (cwd = get_string(env, argv[3])) == NULL ||
      get_credentials(env, argv[4], &r.credentials, &groups) != 0) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "spawnCommand(argv, env, root, cwd, credentials): bad arguments");
  } else {
    r.root = root;
    r.cwd = cwd;
    r.path = command_path(r.envp);
    result = do_spawn(env, &r);
  }
  free_strings(r.argv);
  free_strings(r.envp);
  free(root);
  free(cwd);
  free(groups);
  return result;
}

static napi_value reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t pid;
  int status;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "reap(pid): expected a process id");
    return NULL;
  }
  pid_t r;
  do r = waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    napi_throw_error(env, "ECHILD", "reap: not a child of the agent, or already reaped");
    return NULL;
  }
  if (r == 0) {
    napi_get_null(env, &result);
    return result;
  }
  napi_create_int32(env, status, &result);
  return result;
}

int spawner_register(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"spawnCommand", NULL, spawn_command, NULL, NULL, NULL, napi_default_method, NULL},
      {"reap", NULL, reap, NULL, NULL, NULL, napi_default_method, NULL},
  };
  return napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) == napi_ok ? 0 : -1;
}
