{
  "targets": [
    {
      "target_name": "vsock",
      "sources": ["vsock.c", "../../guest/native/spawner.c", "../../guest/native/rootfs.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
