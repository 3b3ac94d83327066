/* The copy operations' path calls (rootfs.c), registered on the agent's native module's exports. */
#ifndef HYPEMAN_ROOTFS_H
#define HYPEMAN_ROOTFS_H
#include <node_api.h>

/* Adds the fs* functions to `exports`; 0, or -1 with an exception pending. */
int rootfs_register(napi_env env, napi_value exports);

#endif
