/**
 * Where things live in the guest image. The agent's whole payload is under one directory,
 * /.hypeman, so that init (and the local instance runtime) can bind-mount it read-only into
 * any container root and run the agent there, whatever libc that root has, or none.
 */

/** The agent bundle's file name in the payload: CommonJS (see AgentBundle). */
export const AGENT_BUNDLE_NAME = 'agent.cjs';

/** The environment variable through which the agent finds the vsock addon. */
export const VSOCK_ADDON_ENV = 'HYPEMAN_VSOCK_ADDON';

export interface ImageLayout {
  /** PID 1 of the VM. */
  readonly init: string;
  /** The image's busybox; applet links point at it from /bin and /sbin. */
  readonly busybox: string;
  /** The agent payload directory, the same path in the image and in the container root. */
  readonly payload: string;
  /** busybox again (a hard link), so that scripts inside the container root have a shell. */
  readonly payloadBusybox: string;
  readonly node: string;
  /** Every shared library node and the native addons need, plus the loader. */
  readonly libraries: string;
  /** The dynamic loader, run directly so node never depends on the container's /lib. */
  readonly loader: string;
  readonly agentBundle: string;
  readonly nodeModules: string;
  /** Present only when the image was built with the vsock addon. */
  readonly vsockAddon: string;
  /** Starts the agent: `launcher --listen vsock:2222 --root /` (arguments pass through). */
  readonly launcher: string;
  /** The agent's static exec helper; the agent looks for it in bin/ beside its script. */
  readonly spawnHelper: string;
  /** The shim /init starts the container's entrypoint through (entrypoint.sh). */
  readonly entrypointShim: string;
}

const PAYLOAD = '/.hypeman';

/** The loader's file name as PT_INTERP names it on each architecture glibc supports here. */
export function defaultLoaderName(arch: string = process.arch): string {
  const names: Record<string, string> = { x64: 'ld-linux-x86-64.so.2', arm64: 'ld-linux-aarch64.so.1', ia32: 'ld-linux.so.2', riscv64: 'ld-linux-riscv64-lp64d.so.1' };
  return names[arch] ?? 'ld-linux.so.2';
}

/** The image's paths; `loaderName` is the basename of the node binary's PT_INTERP. */
export function imageLayout(loaderName: string = defaultLoaderName()): ImageLayout {
  return {
    init: '/init',
    busybox: '/bin/busybox',
    payload: PAYLOAD,
    payloadBusybox: `${PAYLOAD}/bin/busybox`,
    node: `${PAYLOAD}/bin/node`,
    libraries: `${PAYLOAD}/lib`,
    loader: `${PAYLOAD}/lib/${loaderName}`,
    agentBundle: `${PAYLOAD}/${AGENT_BUNDLE_NAME}`,
    nodeModules: `${PAYLOAD}/node_modules`,
    vsockAddon: `${PAYLOAD}/vsock.node`,
    launcher: `${PAYLOAD}/bin/hypeman-exec-agent`,
    spawnHelper: `${PAYLOAD}/bin/hypeman-exec-spawn`,
    entrypointShim: `${PAYLOAD}/bin/hypeman-entrypoint`,
  };
}

/**
 * The argv that runs the image's node with `args`, inside a root where the payload is
 * mounted: the loader is started directly with the payload's library directory, so neither
 * the node binary's PT_INTERP nor the root's ld.so.cache is consulted.
 */
export function nodeCommand(layout: ImageLayout, args: readonly string[]): string[] {
  return [layout.loader, '--library-path', layout.libraries, layout.node, ...args];
}

/**
 * The launcher script: runs the agent bundle with nodeCommand; interpreted by the payload's own
 * busybox, or, in an image without one (a local instance's root over the host's /usr), by
 * the root's /bin/sh.
 */
export function launcherScript(layout: ImageLayout, withBusybox = true): string {
  const argv = nodeCommand(layout, [layout.agentBundle]).join(' ');
  return [
    withBusybox ? `#!${layout.payloadBusybox} sh` : '#!/bin/sh',
    '# hypeman-exec-agent: the guest agent, run with the image\'s own loader and libraries so it',
    '# works in any root (glibc, musl, or no libc at all). Arguments go to the agent.',
    `exec ${argv} "$@"`,
    '',
  ].join('\n');
}
