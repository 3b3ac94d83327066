/* The agent's spawner (spawner.c), registered on the agent's native module's exports. */
#ifndef HYPEMAN_SPAWNER_H
#define HYPEMAN_SPAWNER_H
#include <node_api.h>

/* Adds spawnCommand and reap to `exports`; 0, or -1 with an exception pending. */
int spawner_register(napi_env env, napi_value exports);

#endif
