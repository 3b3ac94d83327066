/*
 * AF_VSOCK (and, for tests, AF_UNIX) stream sockets for Node: the few syscalls libuv will
 * not do for a vsock fd, plus a uv_poll_t that tells JS when a socket is readable or
 * writable. All buffering, backpressure and stream semantics live in TypeScript
 * (src/vsock/FdStream.ts); this file stays a thin, nonblocking syscall layer.
 *
 * Ownership: every fd this module creates is handed to JS already inside a Socket object,
 * which closes it exactly once: on close(), or when the object is collected unclosed.
 * Errors are thrown as Error objects whose `code` is the errno name ("EAGAIN",
 * "ECONNREFUSED", ...), with `errno` (the positive number) and `syscall`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>
#include <node_api.h>
#include <uv.h>

#include "../../guest/native/rootfs.h"
#include "../../guest/native/spawner.h"
#include "errno-error.h"

#define READABLE UV_READABLE
#define WRITABLE UV_WRITABLE
#define MAX_IOV 1024 /* IOV_MAX on Linux; a longer list is written by the caller's next call */

/* Bails out of a napi_value-returning function when a N-API call fails (an exception is then pending). */
#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

typedef struct {
  napi_ref socket_constructor;
} addon_t;

typedef struct {
  napi_env env;
  napi_ref self;          /* weak while idle, strong while polling: an armed poll keeps the object alive */
  napi_async_context async;
  uv_poll_t poll;
  int fd;                 /* -1 once closed */
  int events;             /* what the poll handle watches now; 0 = stopped */
  int handle_closing;     /* uv_close called, its callback not yet run */
  int wrapper_gone;       /* the JS object was collected */
} socket_t;

/* ---- errors ---------------------------------------------------------------------------- */

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

/* ---- arguments and results --------------------------------------------------------------- */

static int get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv, napi_value *self) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, self, NULL) != napi_ok) return -1;
  if (argc < expected) {
    throw_type(env, "missing arguments");
    return -1;
  }
  return 0;
}

static int get_u32(napi_env env, napi_value value, uint32_t *out) {
  double number;
  if (napi_get_value_double(env, value, &number) != napi_ok || number < 0 || number > UINT32_MAX || number != (uint32_t)number) {
    throw_type(env, "expected an integer from 0 to 4294967295");
    return -1;
  }
  *out = (uint32_t)number;
  return 0;
}

/* A Unix socket address; fails with ENAMETOOLONG rather than truncating the path. */
static int get_unix_address(napi_env env, napi_value value, struct sockaddr_un *address) {
  size_t length;
  memset(address, 0, sizeof *address);
  address->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    throw_type(env, "expected a socket path string");
    return -1;
  }
  if (length == 0 || length >= sizeof address->sun_path) {
    throw_errno(env, ENAMETOOLONG, "bind/connect (unix path)");
    return -1;
  }
  napi_get_value_string_utf8(env, value, address->sun_path, sizeof address->sun_path, &length);
  return 0;
}

static napi_value make_u32(napi_env env, uint32_t value) {
  napi_value result;
  CHECK(napi_create_uint32(env, value, &result));
  return result;
}

static napi_value make_bool(napi_env env, int value) {
  napi_value result;
  CHECK(napi_get_boolean(env, value != 0, &result));
  return result;
}

/* Wraps an fd this module just created in a Socket; closes the fd if that fails. */
static napi_value adopt_fd(napi_env env, int fd) {
  addon_t *addon;
  napi_value constructor, fd_value, socket;
  if (napi_get_instance_data(env, (void **)&addon) != napi_ok || addon == NULL ||
      napi_get_reference_value(env, addon->socket_constructor, &constructor) != napi_ok ||
      napi_create_int32(env, fd, &fd_value) != napi_ok ||
      napi_new_instance(env, constructor, 1, &fd_value, &socket) != napi_ok) {
    close(fd);
    return NULL;
  }
  return socket;
}

/* { socket, <key>: value } */
static napi_value make_result(napi_env env, napi_value socket, const char *key, napi_value value) {
  napi_value result;
  if (socket == NULL || value == NULL) return NULL;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "socket", socket));
  CHECK(napi_set_named_property(env, result, key, value));
  return result;
}

/* ---- the Socket class: one owned fd and its poll handle ----------------------------------- */

static void on_handle_closed(uv_handle_t *handle) {
  socket_t *s = handle->data;
  s->handle_closing = 0;
  if (s->wrapper_gone) free(s);
}

/* Stops polling, closes the poll handle, then the fd (in that order: libuv must forget the fd first). */
static void close_socket(socket_t *s) {
  if (s->fd < 0) return;
  if (s->events != 0) napi_reference_unref(s->env, s->self, NULL);
  s->events = 0;
  s->handle_closing = 1;
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  /* Linux releases the fd even when close() reports EINTR: never retry it. */
  close(s->fd);
  s->fd = -1;
  napi_async_destroy(s->env, s->async);
  s->async = NULL;
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  socket_t *s = data;
  (void)hint;
  s->wrapper_gone = 1;
  close_socket(s);
  napi_delete_reference(env, s->self);
  if (!s->handle_closing) free(s);
}

/* Calls this.onready(status, events) on the JS object; an exception becomes an uncaught one. */
static void on_poll(uv_poll_t *handle, int status, int events) {
  socket_t *s = handle->data;
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_value self, callback, argv[2];
  napi_valuetype type;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, s->self, &self) != napi_ok) self = NULL;
  if (status < 0) {
    /* On EPOLLERR libuv stops the handle and says UV_EBADF; the socket's own error (ECONNRESET...) says more. */
    int err = 0;
    socklen_t length = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &length) == 0 && err != 0) status = uv_translate_sys_error(err);
    uv_poll_stop(&s->poll);
    if (s->events != 0) napi_reference_unref(env, s->self, NULL);
    s->events = 0;
  }
  if (self != NULL &&
      napi_get_named_property(env, self, "onready", &callback) == napi_ok &&
      napi_typeof(env, callback, &type) == napi_ok && type == napi_function &&
      napi_create_int32(env, status, &argv[0]) == napi_ok && napi_create_int32(env, events, &argv[1]) == napi_ok) {
    if (napi_make_callback(env, s->async, self, callback, 2, argv, NULL) == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static socket_t *unwrap(napi_env env, napi_value self) {
  socket_t *s;
  if (napi_unwrap(env, self, (void **)&s) != napi_ok) return NULL;
  return s;
}

/* new Socket(fd): takes ownership of fd (on success only) and makes it nonblocking. */
static napi_value socket_new(napi_env env, napi_callback_info info) {
  napi_value argv[1], self, name;
  uv_loop_t *loop;
  int32_t fd;
  int flags, err;
  socket_t *s;
  if (get_args(env, info, 1, argv, &self) < 0) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "expected a file descriptor");
  flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) return throw_errno(env, errno, "fcntl");
  CHECK(napi_get_uv_event_loop(env, &loop));
  s = calloc(1, sizeof *s);
  if (s == NULL) return throw_errno(env, ENOMEM, "calloc");
  err = uv_poll_init(loop, &s->poll, fd);
  if (err != 0) {
    free(s); /* the handle never became active: nothing for uv_close to do */
    return throw_errno(env, -err, "uv_poll_init");
  }
  s->env = env;
  s->fd = fd;
  s->poll.data = s;
  /* No resource object: napi_async_init would hold it strongly and the Socket would never be collected. */
  if (napi_create_string_utf8(env, "VsockSocket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &s->async) != napi_ok ||
      napi_create_reference(env, self, 0, &s->self) != napi_ok ||
      napi_wrap(env, self, s, finalize_socket, NULL, NULL) != napi_ok) {
    /* The caller keeps the fd on failure; release only what was made here. */
    s->fd = -1;
    if (s->async != NULL) napi_async_destroy(env, s->async);
    if (s->self != NULL) napi_delete_reference(env, s->self);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    s->handle_closing = 1;
    s->wrapper_gone = 1;
    return NULL;
  }
  return self;
}

#define SOCKET_METHOD_PROLOGUE(argc)                                                               \
  napi_value argv[(argc) > 0 ? (argc) : 1], self;                                                 \
  socket_t *s;                                                                                     \
  if (get_args(env, info, (argc), argv, &self) < 0) return NULL;                                   \
  if ((s = unwrap(env, self)) == NULL) return NULL;                                                \
  (void)argv;

#define REQUIRE_OPEN(syscall)                                                                      \
  if (s->fd < 0) return throw_errno(env, EBADF, (syscall));

/* socket.poll(events): what to watch from now on (READABLE | WRITABLE, 0 to stop). */
static napi_value socket_poll(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(1);
  uint32_t events;
  int err;
  if (get_u32(env, argv[0], &events) < 0) return NULL;
  events &= READABLE | WRITABLE;
  if (s->fd < 0 || (int)events == s->events) return NULL;
  if (events == 0) {
    uv_poll_stop(&s->poll);
    napi_reference_unref(env, s->self, NULL);
  } else {
    err = uv_poll_start(&s->poll, (int)events, on_poll);
    if (err != 0) return throw_errno(env, -err, "uv_poll_start");
    if (s->events == 0) napi_reference_ref(env, s->self, NULL);
  }
  s->events = (int)events;
  return NULL;
}

/* A read/write result for JS: the count, -1 for "not now" (EAGAIN), or a thrown errno error. */
static napi_value io_result(napi_env env, ssize_t n, const char *syscall) {
  napi_value result;
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return throw_errno(env, errno, syscall);
    n = -1;
  }
  CHECK(napi_create_int64(env, n, &result));
  return result;
}

/* socket.read(buffer): bytes read, 0 at end of stream, -1 when nothing is ready (EAGAIN). */
static napi_value socket_read(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(1);
  void *data;
  size_t length;
  ssize_t n;
  REQUIRE_OPEN("read");
  if (napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok) return throw_type(env, "expected a Buffer");
  do n = read(s->fd, data, length); while (n < 0 && errno == EINTR);
  return io_result(env, n, "read");
}

/*
 * socket.writev(buffers, start): writes buffers[start..] (at most MAX_IOV of them) in one
 * sendmsg; returns the bytes written, or -1 when the socket cannot take any (EAGAIN).
 * sendmsg rather than writev for MSG_NOSIGNAL: a closed peer is an EPIPE error, not a signal.
 */
static napi_value socket_writev(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(2);
  struct iovec iov[MAX_IOV];
  struct msghdr message;
  uint32_t count, start, i, used = 0;
  ssize_t n;
  REQUIRE_OPEN("sendmsg");
  if (napi_get_array_length(env, argv[0], &count) != napi_ok) return throw_type(env, "expected an array of Buffers");
  if (get_u32(env, argv[1], &start) < 0) return NULL;
  for (i = start; i < count && used < MAX_IOV; i++) {
    napi_value element;
    CHECK(napi_get_element(env, argv[0], i, &element));
    if (napi_get_buffer_info(env, element, &iov[used].iov_base, &iov[used].iov_len) != napi_ok) {
      return throw_type(env, "expected an array of Buffers");
    }
    used++;
  }
  memset(&message, 0, sizeof message);
  message.msg_iov = iov;
  message.msg_iovlen = used;
  do n = sendmsg(s->fd, &message, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  return io_result(env, n, "sendmsg");
}

/* socket.accept(): the next pending connection as a Socket, or null when there is none. */
static napi_value socket_accept(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(0);
  int fd;
  REQUIRE_OPEN("accept4");
  /* ECONNABORTED: that peer gave up while queued; the next one may be waiting. */
  do fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_value null;
      CHECK(napi_get_null(env, &null));
      return null;
    }
    return throw_errno(env, errno, "accept4");
  }
  return adopt_fd(env, fd);
}

/* socket.shutdown(): no more writes (the peer reads end of stream); reading goes on. */
static napi_value socket_shutdown(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(0);
  REQUIRE_OPEN("shutdown");
  if (shutdown(s->fd, SHUT_WR) < 0) return throw_errno(env, errno, "shutdown");
  return NULL;
}

/* socket.checkConnected(): throws the error of a finished nonblocking connect (SO_ERROR), if any. */
static napi_value socket_check_connected(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(0);
  int err = 0;
  socklen_t length = sizeof err;
  REQUIRE_OPEN("getsockopt");
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &length) < 0) return throw_errno(env, errno, "getsockopt");
  if (err != 0) return throw_errno(env, err, "connect");
  return NULL;
}

/* socket.close(): idempotent. */
static napi_value socket_close(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(0);
  close_socket(s);
  return NULL;
}

/* socket.fd: the descriptor, -1 once closed. */
static napi_value socket_fd(napi_env env, napi_callback_info info) {
  SOCKET_METHOD_PROLOGUE(0);
  napi_value result;
  CHECK(napi_create_int32(env, s->fd, &result));
  return result;
}

/* ---- module functions: sockets created here are returned inside Socket objects ------------ */

static int new_socket(int domain) {
  return socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* The CID of this machine from /dev/vsock; 0 on success, else an errno. */
static int read_local_cid(uint32_t *cid) {
  int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  int err = 0;
  if (fd < 0) return errno;
  if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, cid) < 0) err = errno;
  close(fd);
  return err;
}

static struct sockaddr_vm vsock_address(uint32_t cid, uint32_t port) {
  struct sockaddr_vm address;
  memset(&address, 0, sizeof address);
  address.svm_family = AF_VSOCK;
  address.svm_cid = cid;
  address.svm_port = port;
  return address;
}

/*
 * Whether cid is one of this machine's own, asked of the kernel by binding the unbound vsock
 * socket fd to it: the kernel binds only a local CID (else EADDRNOTAVAIL, leaving fd unbound
 * and usable). Unlike the /dev/vsock ioctl this needs no privilege (/dev/vsock is often
 * root-only). 1 = local (fd is now bound), 0 = not local, -1 = cannot tell (errno set).
 */
static int bind_probe_is_local(int fd, uint32_t cid) {
  struct sockaddr_vm address = vsock_address(cid, VMADDR_PORT_ANY);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) == 0) return 1;
  return errno == EADDRNOTAVAIL ? 0 : -1;
}

/* The static part of the safety rule: the hypervisor (0), loopback (1), the host (2), the wildcard. */
static int is_reserved_cid(uint32_t cid) {
  return cid <= VMADDR_CID_HOST || cid == VMADDR_CID_ANY;
}

/* The last line of the safety rule, also enforced (with better messages) in TypeScript: never
 * connect to the hypervisor, the host, the wildcard, or this machine (by ioctl or bind probe). */
static int is_forbidden_cid(uint32_t cid) {
  uint32_t local;
  int fd, local_by_bind;
  if (is_reserved_cid(cid)) return 1;
  if (read_local_cid(&local) == 0 && cid == local) return 1;
  /* No vsock socket, no vsock connect either: vsockConnect probes again on its own socket. */
  if ((fd = new_socket(AF_VSOCK)) < 0) return 0;
  local_by_bind = bind_probe_is_local(fd, cid);
  close(fd);
  return local_by_bind != 0; /* -1, cannot tell: refuse */
}

static napi_value local_cid(napi_env env, napi_callback_info info) {
  uint32_t cid;
  (void)info;
  if (read_local_cid(&cid) != 0) {
    napi_value null;
    CHECK(napi_get_null(env, &null));
    return null;
  }
  return make_u32(env, cid);
}

static napi_value forbidden_cid(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t cid;
  if (get_args(env, info, 1, argv, NULL) < 0 || get_u32(env, argv[0], &cid) < 0) return NULL;
  return make_bool(env, is_forbidden_cid(cid));
}

/* Binds and listens fd on address; closes fd and throws on failure. */
static int bind_and_listen(napi_env env, int fd, const struct sockaddr *address, socklen_t length, uint32_t backlog) {
  if (bind(fd, address, length) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind");
    return -1;
  }
  if (listen(fd, backlog > INT_MAX ? INT_MAX : (int)backlog) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "listen");
    return -1;
  }
  return 0;
}

/* Starts a nonblocking connect; returns 1 if it completes later (poll writable), 0 if done, -1 after closing fd and throwing. */
static int start_connect(napi_env env, int fd, const struct sockaddr *address, socklen_t length) {
  if (connect(fd, address, length) == 0) return 0;
  /* EINTR: the connect goes on asynchronously, as with EINPROGRESS (POSIX). */
  if (errno == EINPROGRESS || errno == EINTR) return 1;
  int err = errno;
  close(fd);
  throw_errno(env, err, "connect");
  return -1;
}

/* vsockListen(cid, port, backlog) -> { socket, port } (port: the bound one, for VMADDR_PORT_ANY) */
static napi_value vsock_listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t cid, port, backlog;
  struct sockaddr_vm address;
  socklen_t length = sizeof address;
  int fd;
  if (get_args(env, info, 3, argv, NULL) < 0 || get_u32(env, argv[0], &cid) < 0 || get_u32(env, argv[1], &port) < 0 ||
      get_u32(env, argv[2], &backlog) < 0) {
    return NULL;
  }
  if ((fd = new_socket(AF_VSOCK)) < 0) return throw_errno(env, errno, "socket");
  address = vsock_address(cid, port);
  if (bind_and_listen(env, fd, (struct sockaddr *)&address, sizeof address, backlog) < 0) return NULL;
  if (getsockname(fd, (struct sockaddr *)&address, &length) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "getsockname");
  }
  return make_result(env, adopt_fd(env, fd), "port", make_u32(env, address.svm_port));
}

static napi_value throw_forbidden_cid(napi_env env) {
  throw_coded(env, "FORBIDDEN_CID", "refusing to connect to the host, the wildcard or this machine's own CID", 0, "connect");
  return NULL;
}

/* vsockConnect(cid, port) -> { socket, pending } */
static napi_value vsock_connect(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t cid, port, local;
  struct sockaddr_vm address;
  int fd, pending, local_by_bind;
  if (get_args(env, info, 2, argv, NULL) < 0 || get_u32(env, argv[0], &cid) < 0 || get_u32(env, argv[1], &port) < 0) return NULL;
  if (is_reserved_cid(cid) || (read_local_cid(&local) == 0 && cid == local)) return throw_forbidden_cid(env);
  if ((fd = new_socket(AF_VSOCK)) < 0) return throw_errno(env, errno, "socket");
  /* On the socket that will connect, so that no other check can disagree with this one; fails closed. */
  if ((local_by_bind = bind_probe_is_local(fd, cid)) != 0) {
    int err = errno;
    close(fd);
    return local_by_bind > 0 ? throw_forbidden_cid(env) : throw_errno(env, err, "bind (local CID probe)");
  }
  address = vsock_address(cid, port);
  if ((pending = start_connect(env, fd, (struct sockaddr *)&address, sizeof address)) < 0) return NULL;
  return make_result(env, adopt_fd(env, fd), "pending", make_bool(env, pending));
}

/* unixListen(path, backlog) -> Socket */
static napi_value unix_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct sockaddr_un address;
  uint32_t backlog;
  int fd;
  if (get_args(env, info, 2, argv, NULL) < 0 || get_unix_address(env, argv[0], &address) < 0 || get_u32(env, argv[1], &backlog) < 0) {
    return NULL;
  }
  if ((fd = new_socket(AF_UNIX)) < 0) return throw_errno(env, errno, "socket");
  if (bind_and_listen(env, fd, (struct sockaddr *)&address, sizeof address, backlog) < 0) return NULL;
  return adopt_fd(env, fd);
}

/* unixConnect(path) -> { socket, pending }. A Unix connect never pends: a full backlog is EAGAIN. */
static napi_value unix_connect(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct sockaddr_un address;
  int fd, pending;
  if (get_args(env, info, 1, argv, NULL) < 0 || get_unix_address(env, argv[0], &address) < 0) return NULL;
  if ((fd = new_socket(AF_UNIX)) < 0) return throw_errno(env, errno, "socket");
  if ((pending = start_connect(env, fd, (struct sockaddr *)&address, sizeof address)) < 0) return NULL;
  return make_result(env, adopt_fd(env, fd), "pending", make_bool(env, pending));
}

/* socketPair() -> [Socket, Socket]: two connected AF_UNIX stream sockets. */
static napi_value socket_pair(napi_env env, napi_callback_info info) {
  int fds[2];
  napi_value result, first, second;
  (void)info;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) return throw_errno(env, errno, "socketpair");
  if ((first = adopt_fd(env, fds[0])) == NULL) {
    close(fds[1]);
    return NULL;
  }
  if ((second = adopt_fd(env, fds[1])) == NULL) return NULL; /* first is closed by its finalizer */
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_set_element(env, result, 0, first));
  CHECK(napi_set_element(env, result, 1, second));
  return result;
}

/* ---- registration ------------------------------------------------------------------------- */

static void finalize_addon(napi_env env, void *data, void *hint) {
  addon_t *addon = data;
  (void)hint;
  napi_delete_reference(env, addon->socket_constructor);
  free(addon);
}

#define METHOD(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL }
#define GETTER(name, fn) { name, NULL, NULL, fn, NULL, NULL, napi_default, NULL }

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value constructor, readable, writable;
  addon_t *addon;
  napi_property_descriptor socket_members[] = {
      METHOD("poll", socket_poll),         METHOD("read", socket_read),
      METHOD("writev", socket_writev),     METHOD("accept", socket_accept),
      METHOD("shutdown", socket_shutdown), METHOD("checkConnected", socket_check_connected),
      METHOD("close", socket_close),       GETTER("fd", socket_fd),
  };
  CHECK(napi_define_class(env, "Socket", NAPI_AUTO_LENGTH, socket_new, NULL, sizeof socket_members / sizeof socket_members[0],
                          socket_members, &constructor));
  if ((addon = calloc(1, sizeof *addon)) == NULL) return throw_errno(env, ENOMEM, "calloc");
  if (napi_create_reference(env, constructor, 1, &addon->socket_constructor) != napi_ok) {
    free(addon);
    return NULL;
  }
  if (napi_set_instance_data(env, addon, finalize_addon, NULL) != napi_ok) {
    napi_delete_reference(env, addon->socket_constructor);
    free(addon);
    return NULL;
  }
  CHECK(napi_create_uint32(env, READABLE, &readable));
  CHECK(napi_create_uint32(env, WRITABLE, &writable));
  napi_property_descriptor functions[] = {
      {"Socket", NULL, NULL, NULL, NULL, constructor, napi_enumerable, NULL},
      {"READABLE", NULL, NULL, NULL, NULL, readable, napi_enumerable, NULL},
      {"WRITABLE", NULL, NULL, NULL, NULL, writable, napi_enumerable, NULL},
      METHOD("localCid", local_cid),
      METHOD("forbiddenCid", forbidden_cid),
      METHOD("vsockListen", vsock_listen),
      METHOD("vsockConnect", vsock_connect),
      METHOD("unixListen", unix_listen),
      METHOD("unixConnect", unix_connect),
      METHOD("socketPair", socket_pair),
  };
  CHECK(napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  /* The agent's spawner rides in this module, the one native module the guest ships. */
  if (spawner_register(env, exports) != 0) return NULL;
  /* And the copy operations' path calls, contained in the container root (rootfs.c). */
  if (rootfs_register(env, exports) != 0) return NULL;
  return exports;
}
