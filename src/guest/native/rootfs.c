/*
 * The path calls of the copy operations (src/guest/copy/RootFs.ts): the few syscalls Node's
 * fs cannot make — those that take a directory descriptor and a name, and openat2 — so that
 * the agent resolves every path inside the container root as the container sees it, and
 * below a copy's root acts on one name at a time without following symbolic links.
 *
 *   fsOpenIn(dirfd, path, flags, mode, resolve) -> fd    openat2(2): `resolve` is RESOLVE_*
 *   fsOpenAt(dirfd, name, flags, mode) -> fd             openat(2)
 *   fsStat(dirfd, name|null, follow, out)                fstatat(2) into a Float64Array(12):
 *       mode, uid, gid, size, mtime s, mtime ns, rdev major, rdev minor, nlink, dev, ino high, ino low
 *   fsReadDir(dirfd) -> Buffer[]                         getdents64(2), without . and ..
 *   fsReadLink(dirfd, name|null) -> Buffer               readlinkat(2)
 *   fsMkdir(dirfd, name, mode)                           mkdirat(2)
 *   fsSymlink(target, dirfd, name)                       symlinkat(2)
 *   fsLink(olddirfd, oldname, newdirfd, newname)         linkat(2), flags 0: a symlink is linked, not followed
 *   fsMknod(dirfd, name, mode, major, minor)             mknodat(2)
 *   fsRename(olddirfd, oldname, newdirfd, newname, flags)  renameat2(2)
 *   fsUnlink(dirfd, name, directory)                     unlinkat(2)
 *   fsChown(dirfd, name|null, uid, gid)                  fchownat(2), never following a symlink
 *   fsChmod(dirfd, name|null, mode)                      fchmod(2) of dirfd, or the name never followed
 *   fsUtimes(dirfd, name|null, seconds, nanoseconds)     utimensat(2): mtime, atime left; never following
 *   fsFsType(fd) -> f_type                               fstatfs(2)
 *
 * Names and paths are Buffers (file names are bytes); a NUL in one is EINVAL. A null name
 * means `dirfd` itself. Every new descriptor is close-on-exec. Errors are thrown with the
 * errno's name as `code` (errno-error.h). All calls are synchronous: each is one syscall
 * on a local file system, as the agent's reads of the container's /etc/passwd are.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/openat2.h>
#include <node_api.h>

#include "../../vsock/native/errno-error.h"
#include "rootfs.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

#define STAT_FIELDS 12

/* A C string from a Buffer (or Uint8Array), NUL-terminated; NULL with an exception pending. */
static char *get_name(napi_env env, napi_value value, const char *what) {
  bool is_typed;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    char message[96];
    snprintf(message, sizeof message, "%s must be a Buffer", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return NULL;
  }
  if (memchr(data, 0, length) != NULL) {
    throw_errno(env, EINVAL, what);
    return NULL;
  }
  char *s = malloc(length + 1);
  if (s == NULL) {
    throw_errno(env, ENOMEM, "malloc");
    return NULL;
  }
  memcpy(s, data, length);
  s[length] = '\0';
  return s;
}

/* A name that may be null (then the descriptor itself is meant): *out = NULL. 0, or -1 with an exception pending. */
static int get_optional_name(napi_env env, napi_value value, const char *what, char **out) {
  napi_valuetype kind;
  *out = NULL;
  if (napi_typeof(env, value, &kind) != napi_ok) return -1;
  if (kind == napi_null || kind == napi_undefined) return 0;
  return (*out = get_name(env, value, what)) == NULL ? -1 : 0;
}

static int get_int(napi_env env, napi_value value, int32_t *out) {
  if (napi_get_value_int32(env, value, out) == napi_ok) return 0;
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an integer");
  return -1;
}

static int get_u32(napi_env env, napi_value value, uint32_t *out) {
  if (napi_get_value_uint32(env, value, out) == napi_ok) return 0;
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an unsigned integer");
  return -1;
}

static int get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  if (argc < expected) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "missing arguments");
    return -1;
  }
  return 0;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

static napi_value number(napi_env env, double value) {
  napi_value v;
  return napi_create_double(env, value, &v) == napi_ok ? v : NULL;
}

/* ---- opening ------------------------------------------------------------------------------ */

static napi_value fs_open_in(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t dirfd, flags;
  uint32_t mode, resolve;
  char *path;
  if (get_args(env, info, 5, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_int(env, argv[2], &flags) != 0 ||
      get_u32(env, argv[3], &mode) != 0 || get_u32(env, argv[4], &resolve) != 0 || (path = get_name(env, argv[1], "path")) == NULL) return NULL;
  struct open_how how = {.flags = (uint64_t)(uint32_t)(flags | O_CLOEXEC), .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0, .resolve = resolve};
  long fd;
  do fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  int err = errno;
  free(path);
  return fd < 0 ? throw_errno(env, err, "openat2") : number(env, (double)fd);
}

static napi_value fs_open_at(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t dirfd, flags;
  uint32_t mode;
  char *name;
  if (get_args(env, info, 4, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_int(env, argv[2], &flags) != 0 ||
      get_u32(env, argv[3], &mode) != 0 || (name = get_name(env, argv[1], "name")) == NULL) return NULL;
  int fd;
  do fd = openat(dirfd, name, flags | O_CLOEXEC, (mode_t)mode);
  while (fd < 0 && errno == EINTR);
  int err = errno;
  free(name);
  return fd < 0 ? throw_errno(env, err, "openat") : number(env, fd);
}

/* ---- reading ------------------------------------------------------------------------------ */

static napi_value fs_stat(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t dirfd;
  bool follow;
  char *name;
  double *out;
  size_t length;
  napi_typedarray_type type;
  if (get_args(env, info, 4, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || napi_get_value_bool(env, argv[2], &follow) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &type, &length, (void **)&out, NULL, NULL) != napi_ok || type != napi_float64_array || length < STAT_FIELDS) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fsStat(dirfd, name, follow, Float64Array(12))");
    return NULL;
  }
  if (get_optional_name(env, argv[1], "name", &name) != 0) return NULL;
  struct stat st;
  int flags = (follow ? 0 : AT_SYMLINK_NOFOLLOW) | (name == NULL ? AT_EMPTY_PATH : 0);
  int r = fstatat(dirfd, name == NULL ? "" : name, &st, flags);
  int err = errno;
  free(name);
  if (r != 0) return throw_errno(env, err, "fstatat");
  out[0] = st.st_mode;
  out[1] = st.st_uid;
  out[2] = st.st_gid;
  out[3] = (double)st.st_size;
  out[4] = (double)st.st_mtim.tv_sec;
  out[5] = (double)st.st_mtim.tv_nsec;
  out[6] = major(st.st_rdev);
  out[7] = minor(st.st_rdev);
  out[8] = (double)st.st_nlink;
  out[9] = (double)st.st_dev;
  out[10] = (double)((uint64_t)st.st_ino >> 32);
  out[11] = (double)((uint64_t)st.st_ino & 0xffffffffu);
  return undefined(env);
}

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static napi_value fs_read_dir(napi_env env, napi_callback_info info) {
  napi_value argv[1], list;
  int32_t dirfd;
  if (get_args(env, info, 1, argv) != 0 || get_int(env, argv[0], &dirfd) != 0) return NULL;
  if (lseek(dirfd, 0, SEEK_SET) < 0) return throw_errno(env, errno, "lseek");
  if (napi_create_array(env, &list) != napi_ok) return NULL;
  char buffer[32768] __attribute__((aligned(8)));
  uint32_t count = 0;
  for (;;) {
    long n;
    do n = syscall(SYS_getdents64, dirfd, buffer, sizeof buffer);
    while (n < 0 && errno == EINTR);
    if (n < 0) return throw_errno(env, errno, "getdents64");
    if (n == 0) break;
    for (long at = 0; at < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buffer + at);
      at += d->d_reclen;
      const char *s = d->d_name;
      if (s[0] == '.' && (s[1] == '\0' || (s[1] == '.' && s[2] == '\0'))) continue;
      napi_value name;
      void *copy;
      size_t length = strlen(s);
      if (napi_create_buffer_copy(env, length, s, &copy, &name) != napi_ok || napi_set_element(env, list, count++, name) != napi_ok) return NULL;
    }
  }
  return list;
}

static napi_value fs_read_link(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int32_t dirfd;
  char *name, target[PATH_MAX];
  if (get_args(env, info, 2, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_optional_name(env, argv[1], "name", &name) != 0) return NULL;
  ssize_t n = readlinkat(dirfd, name == NULL ? "" : name, target, sizeof target);
  int err = n == (ssize_t)sizeof target ? ENAMETOOLONG : errno;
  free(name);
  if (n < 0 || n == (ssize_t)sizeof target) return throw_errno(env, err, "readlinkat");
  void *copy;
  return napi_create_buffer_copy(env, (size_t)n, target, &copy, &result) == napi_ok ? result : NULL;
}

static napi_value fs_fs_type(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  struct statfs st;
  if (get_args(env, info, 1, argv) != 0 || get_int(env, argv[0], &fd) != 0) return NULL;
  if (fstatfs(fd, &st) != 0) return throw_errno(env, errno, "fstatfs");
  return number(env, (double)(unsigned long)st.f_type);
}

/* ---- making and changing ------------------------------------------------------------------ */

static napi_value fs_mkdir(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t dirfd;
  uint32_t mode;
  char *name;
  if (get_args(env, info, 3, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_u32(env, argv[2], &mode) != 0 ||
      (name = get_name(env, argv[1], "name")) == NULL) return NULL;
  int r = mkdirat(dirfd, name, (mode_t)mode);
  int err = errno;
  free(name);
  return r != 0 ? throw_errno(env, err, "mkdirat") : undefined(env);
}

static napi_value fs_symlink(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t dirfd;
  char *target, *name;
  if (get_args(env, info, 3, argv) != 0 || get_int(env, argv[1], &dirfd) != 0 || (target = get_name(env, argv[0], "target")) == NULL) return NULL;
  if ((name = get_name(env, argv[2], "name")) == NULL) {
    free(target);
    return NULL;
  }
  int r = symlinkat(target, dirfd, name);
  int err = errno;
  free(target);
  free(name);
  return r != 0 ? throw_errno(env, err, "symlinkat") : undefined(env);
}

/* The calls on two names (linkat, renameat2). */
static napi_value two_names(napi_env env, napi_callback_info info, int rename) {
  napi_value argv[5];
  int32_t olddir, newdir;
  uint32_t flags = 0;
  char *oldname, *newname;
  if (get_args(env, info, rename ? 5 : 4, argv) != 0 || get_int(env, argv[0], &olddir) != 0 || get_int(env, argv[2], &newdir) != 0 ||
      (rename && get_u32(env, argv[4], &flags) != 0) || (oldname = get_name(env, argv[1], "old name")) == NULL) return NULL;
  if ((newname = get_name(env, argv[3], "new name")) == NULL) {
    free(oldname);
    return NULL;
  }
  long r = rename ? syscall(SYS_renameat2, olddir, oldname, newdir, newname, flags) : linkat(olddir, oldname, newdir, newname, 0);
  int err = errno;
  free(oldname);
  free(newname);
  return r != 0 ? throw_errno(env, err, rename ? "renameat2" : "linkat") : undefined(env);
}

static napi_value fs_link(napi_env env, napi_callback_info info) {
  return two_names(env, info, 0);
}

static napi_value fs_rename(napi_env env, napi_callback_info info) {
  return two_names(env, info, 1);
}

static napi_value fs_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t dirfd;
  uint32_t mode, maj, min;
  char *name;
  if (get_args(env, info, 5, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_u32(env, argv[2], &mode) != 0 ||
      get_u32(env, argv[3], &maj) != 0 || get_u32(env, argv[4], &min) != 0 || (name = get_name(env, argv[1], "name")) == NULL) return NULL;
  int r = mknodat(dirfd, name, (mode_t)mode, makedev(maj, min));
  int err = errno;
  free(name);
  return r != 0 ? throw_errno(env, err, "mknodat") : undefined(env);
}

static napi_value fs_unlink(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t dirfd;
  bool directory;
  char *name;
  if (get_args(env, info, 3, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || napi_get_value_bool(env, argv[2], &directory) != napi_ok ||
      (name = get_name(env, argv[1], "name")) == NULL) return NULL;
  int r = unlinkat(dirfd, name, directory ? AT_REMOVEDIR : 0);
  int err = errno;
  free(name);
  return r != 0 ? throw_errno(env, err, "unlinkat") : undefined(env);
}

static napi_value fs_chown(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t dirfd;
  uint32_t uid, gid;
  char *name;
  if (get_args(env, info, 4, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_u32(env, argv[2], &uid) != 0 ||
      get_u32(env, argv[3], &gid) != 0 || get_optional_name(env, argv[1], "name", &name) != 0) return NULL;
  int r = fchownat(dirfd, name == NULL ? "" : name, uid, gid, AT_SYMLINK_NOFOLLOW | (name == NULL ? AT_EMPTY_PATH : 0));
  int err = errno;
  free(name);
  return r != 0 ? throw_errno(env, err, "fchownat") : undefined(env);
}

/*
 * chmod of a name without following it: fchmodat2(AT_SYMLINK_NOFOLLOW) where the kernel has
 * it (6.6), else through a descriptor of the very inode (O_PATH | O_NOFOLLOW, as glibc does):
 * a symlink swapped in for the name is never followed. Symlinks themselves have no mode.
 */
static int chmod_nofollow(int dirfd, const char *name, mode_t mode) {
  if (syscall(SYS_fchmodat2, dirfd, name, mode, AT_SYMLINK_NOFOLLOW) == 0) return 0;
  if (errno != ENOSYS && errno != EINVAL) return -1;
  int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  int r = fstat(fd, &st);
  if (r == 0 && S_ISLNK(st.st_mode)) {
    errno = EOPNOTSUPP;
    r = -1;
  } else if (r == 0) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    r = chmod(proc, mode);
  }
  int err = errno;
  close(fd);
  errno = err;
  return r;
}

static napi_value fs_chmod(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t dirfd;
  uint32_t mode;
  char *name;
  if (get_args(env, info, 3, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_u32(env, argv[2], &mode) != 0 ||
      get_optional_name(env, argv[1], "name", &name) != 0) return NULL;
  const char *call = name == NULL ? "fchmod" : "fchmodat";
  int r = name == NULL ? fchmod(dirfd, (mode_t)mode) : chmod_nofollow(dirfd, name, (mode_t)mode);
  int err = errno;
  free(name);
  return r != 0 ? throw_errno(env, err, call) : undefined(env);
}

static napi_value fs_utimes(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t dirfd;
  int64_t seconds;
  uint32_t nanoseconds;
  char *name;
  if (get_args(env, info, 4, argv) != 0 || get_int(env, argv[0], &dirfd) != 0 || get_u32(env, argv[3], &nanoseconds) != 0) return NULL;
  if (napi_get_value_int64(env, argv[2], &seconds) != napi_ok || nanoseconds > 999999999u) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "fsUtimes: seconds must be an integer and nanoseconds below 1e9");
    return NULL;
  }
  if (get_optional_name(env, argv[1], "name", &name) != 0) return NULL;
  struct timespec times[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, {.tv_sec = seconds, .tv_nsec = nanoseconds}};
  int r = name == NULL ? futimens(dirfd, times) : utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW);
  int err = errno;
  free(name);
  return r != 0 ? throw_errno(env, err, "utimensat") : undefined(env);
}

#define FUNCTION(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}

int rootfs_register(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      FUNCTION("fsOpenIn", fs_open_in), FUNCTION("fsOpenAt", fs_open_at), FUNCTION("fsStat", fs_stat),
      FUNCTION("fsReadDir", fs_read_dir), FUNCTION("fsReadLink", fs_read_link), FUNCTION("fsFsType", fs_fs_type),
      FUNCTION("fsMkdir", fs_mkdir), FUNCTION("fsSymlink", fs_symlink), FUNCTION("fsLink", fs_link),
      FUNCTION("fsMknod", fs_mknod), FUNCTION("fsRename", fs_rename), FUNCTION("fsUnlink", fs_unlink),
      FUNCTION("fsChown", fs_chown), FUNCTION("fsChmod", fs_chmod), FUNCTION("fsUtimes", fs_utimes),
  };
  return napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) == napi_ok ? 0 : -1;
}
