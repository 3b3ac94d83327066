/*
 * Errors for the native module's functions (vsock.c, rootfs.c): thrown as Error objects whose
 * `code` is the errno name ("ENOENT", "EAGAIN", ...), with `errno` (the positive number) and
 * `syscall`, as Node's own fs and net errors are.
 */
#ifndef HYPEMAN_ERRNO_ERROR_H
#define HYPEMAN_ERRNO_ERROR_H
#include <stdio.h>
#include <string.h>
#include <node_api.h>
#include <uv.h>

static void throw_coded(napi_env env, const char *code, const char *message, int err, const char *syscall) {
  napi_value code_value, message_value, error, number, syscall_value;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok) return;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok) return;
  if (napi_create_error(env, code_value, message_value, &error) != napi_ok) return;
  if (err != 0 && napi_create_int32(env, err, &number) == napi_ok) napi_set_named_property(env, error, "errno", number);
  if (syscall != NULL && napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value) == napi_ok) {
    napi_set_named_property(env, error, "syscall", syscall_value);
  }
  napi_throw(env, error);
}

/* The errno's name: libuv's, or glibc's for the few libuv does not know (EDQUOT). */
static const char *errno_name(int err, char *fallback, size_t size) {
  const char *name = uv_err_name(uv_translate_sys_error(err));
  if (strncmp(name, "Unknown", 7) != 0) return name;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *glibc = strerrorname_np(err);
  if (glibc != NULL) return glibc;
#endif
  snprintf(fallback, size, "E%d", err);
  return fallback;
}

/* Throws `syscall: strerror` with code = the errno name; returns NULL for the caller to return. */
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char message[160], fallback[16];
  const char *text = uv_strerror(uv_translate_sys_error(err));
  snprintf(message, sizeof message, "%s failed: %s", syscall, strncmp(text, "Unknown", 7) == 0 ? strerror(err) : text);
  throw_coded(env, errno_name(err, fallback, sizeof fallback), message, err, syscall);
  return NULL;
}

#endif
