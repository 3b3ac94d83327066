/*
 * What the exec helper (spawn-helper.c, a static program) and the agent's spawner
 * (spawner.c, inside the agent's native module) share: the last steps of starting a command
 * in its child process — the user and groups, the working directory, default signal state,
 * no inherited descriptors — and exec with a PATH search.
 *
 * Everything here is safe in a child made with clone(CLONE_VM | CLONE_VFORK), which shares
 * the agent's memory while the agent's other threads run on: no allocation, no locks, and
 * the credentials are set with raw syscalls, because glibc's set*id wrappers would make
 * every thread of the (shared) process change its credentials too.
 */
#ifndef HYPEMAN_COMMAND_EXEC_H
#define HYPEMAN_COMMAND_EXEC_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define COMMAND_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Where starting the command failed; the names are the agent's (HelperStage). */
enum stage { STAGE_CHROOT, STAGE_FORK, STAGE_CREDENTIALS, STAGE_CWD, STAGE_EXEC };
static const char *const stage_names[] = {"chroot", "fork", "credentials", "cwd", "exec"};

/* Why nothing runs. `exists` is 1 when exec failed on a file that exists (a missing interpreter or loader). */
struct child_failure {
  int stage;
  int err;
  int exists;
};

/* Who the command runs as; `set` 0 keeps the caller's own user and groups. */
struct credentials {
  int set;
  uid_t uid;
  gid_t gid;
  const gid_t *groups;
  size_t ngroups;
};

static int command_fail(struct child_failure *f, enum stage stage, int err, int exists) {
  f->stage = stage;
  f->err = err;
  f->exists = exists;
  return -1;
}

/* Groups, gid, then uid (the order that keeps the right to change the next). */
static int set_credentials(const struct credentials *c, struct child_failure *f) {
  if (!c->set) return 0;
  if (syscall(SYS_setgroups, c->ngroups, c->groups) != 0) return command_fail(f, STAGE_CREDENTIALS, errno, 0);
  if (syscall(SYS_setgid, c->gid) != 0) return command_fail(f, STAGE_CREDENTIALS, errno, 0);
  if (syscall(SYS_setuid, c->uid) != 0) return command_fail(f, STAGE_CREDENTIALS, errno, 0);
  return 0;
}

/* As the target user, so that a directory the user may not enter is refused. */
static int enter_cwd(const char *cwd, struct child_failure *f) {
  return chdir(cwd) == 0 ? 0 : command_fail(f, STAGE_CWD, errno, 0);
}

/* Default dispositions for every signal (ignored ones included), then an empty mask. */
static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  /* Fails harmlessly for SIGKILL, SIGSTOP and libc-reserved numbers. */
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &sa, NULL);
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, NULL);
}

/* Every inherited descriptor above stderr is closed when the command execs. */
static void cloexec_from_3(void) {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  struct rlimit rl;
  long max = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < max) max = (long)rl.rlim_cur;
  for (int fd = 3; fd < max; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/*
 * execve argv[0] with `envp`, searching `path` (the command's PATH, NULL for the default)
 * when argv[0] has no '/'. Like execvp, a directory that lacks the file or refuses access
 * is skipped (access refusals are reported if nothing else is found). Unlike execvp, a file
 * that exists but cannot be executed ends the search with its own error, and no /bin/sh
 * fallback is tried for ENOEXEC (as runc does). Returns only on failure, with `f` filled.
 */
static void exec_command(char *const argv[], char *const envp[], const char *path, struct child_failure *f) {
  const char *file = argv[0];
  if (strchr(file, '/') != NULL) {
    execve(file, argv, envp);
    int err = errno;
    command_fail(f, STAGE_EXEC, err, err == ENOENT && access(file, F_OK) == 0);
    return;
  }
  if (path == NULL) path = COMMAND_DEFAULT_PATH;
  size_t file_len = strlen(file);
  int saw_eacces = 0;
  char candidate[PATH_MAX];
  for (const char *p = path;; p++) {
    const char *start = p;
    while (*p != '\0' && *p != ':') p++;
    size_t dir_len = (size_t)(p - start);
    if (dir_len == 0) dir_len = 1, start = "."; /* an empty entry is the working directory */
    if (dir_len + 1 + file_len + 1 <= sizeof candidate) {
      memcpy(candidate, start, dir_len);
      candidate[dir_len] = '/';
      memcpy(candidate + dir_len + 1, file, file_len + 1);
      execve(candidate, argv, envp);
      int err = errno;
      switch (err) {
        case EACCES:
          saw_eacces = 1;
          break;
        case ENOENT:
          /* The file is there but its interpreter or dynamic loader is not. */
          if (access(candidate, F_OK) == 0) {
            command_fail(f, STAGE_EXEC, ENOENT, 1);
            return;
          }
          break;
        case ENOTDIR:
        case ESTALE:
        case ENODEV:
        case ETIMEDOUT:
        case ENAMETOOLONG:
          break;
        default:
          command_fail(f, STAGE_EXEC, err, 1);
          return;
      }
    }
    if (*p == '\0') break;
  }
  command_fail(f, STAGE_EXEC, saw_eacces ? EACCES : ENOENT, saw_eacces);
}

#endif
