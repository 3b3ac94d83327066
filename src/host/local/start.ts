#!/usr/bin/env node
// `npm start`: the API server on 127.0.0.1:8080 with one local instance, local-1, for a
// machine without microVMs. Data (image tree, root, records, secret, token, logs) in
// .hypeman/ of the checkout. Ctrl-C or SIGTERM stops everything it started.
// Run through scripts/start.mjs, which compiles what is missing first.
import { mkdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { CodedError } from '../../wire/index.js';
import { shellQuote } from '../initrd/GuestConfig.js';
import { findProjectRoot } from '../projectRoot.js';
import { InstanceRegistry } from '../registry/InstanceRegistry.js';
import { ApiServer } from '../server/ApiServer.js';
import { OriginPolicy } from '../server/OriginPolicy.js';
import { RegistryDirectory } from '../server/RegistryDirectory.js';
import { TokenVerifier } from '../server/TokenVerifier.js';
import { ensureJwtSecret, writeDevToken } from './DevCredentials.js';
import { ensureLocalImage } from './LocalImage.js';
import { LocalInstance, type RootKind } from './LocalInstance.js';

const INSTANCE_ID = 'local-1';

const ROOT_DESCRIPTIONS: Record<RootKind, string> = {
  busybox: 'programs: busybox',
  'host-userland': "programs: this host's /usr, read-only (no busybox installed; HYPEMAN_BUSYBOX names one)",
  given: 'the root given with --root',
};

const HOST = '127.0.0.1';

const USAGE = `Usage: npm start [-- --port N] [--data-dir DIR] [--root DIR]

Starts the API server on ${HOST}:8080 with one local instance, ${INSTANCE_ID}: the guest image's
agent in a sandbox (namespaces + chroot into a busybox root, or into one over this host's own
/usr where busybox is not installed) behind a hybrid vsock socket.
Environment: PORT, HYPEMAN_DATA_DIR (default .hypeman/ in the checkout), HYPEMAN_LOCAL_ROOT
(the instance's root directory; default a busybox root under the data directory),
HYPEMAN_BUSYBOX (a static busybox to build the root with; empty: none, use this host's /usr;
default busybox on PATH), HYPEMAN_LOG_LEVEL (server log, written to <data-dir>/server.log). Flags win.`;

async function main(): Promise<void> {
  const started = performance.now();
  const { values } = parseArgs({
    options: { port: { type: 'string' }, 'data-dir': { type: 'string' }, root: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const projectRoot = findProjectRoot();
  const port = Number(values.port ?? process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`port ${values.port ?? process.env.PORT} is not a TCP port number`);
  const dataDir = resolve(values['data-dir'] ?? (process.env.HYPEMAN_DATA_DIR || join(projectRoot, '.hypeman')));
  const rootOption = values.root ?? (process.env.HYPEMAN_LOCAL_ROOT || undefined);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });

  const secret = await ensureJwtSecret(join(dataDir, 'jwt-secret'));
  const logPath = join(dataDir, 'server.log');
  const logger = pino({ level: process.env.HYPEMAN_LOG_LEVEL || 'info' }, pino.destination({ dest: logPath, append: true, sync: false }));
  const registry = new InstanceRegistry(dataDir);
  const isolate = process.getuid?.() === 0;
  if (!isolate) {
    process.stderr.write(
      `WARNING: not running as root, so ${INSTANCE_ID} gets no sandbox: no namespaces, no chroot. Its agent runs\n` +
        `directly on this host as ${process.env.USER ?? `uid ${process.getuid?.()}`}, and commands see this host's files. Run as root for the sandbox.\n`,
    );
  }

  // The server first: a port in use fails at once, before the image is prepared.
  const verifier = TokenVerifier.fromConfig({ kind: 'secret', secret });
  const server = new ApiServer({
    host: HOST,
    port,
    directory: new RegistryDirectory(registry),
    verifier,
    origins: new OriginPolicy([]),
    logger,
    // /healthz says "starting", and sessions get 503 STARTING, until local-1's agent answers.
    ready: false,
  });
  const listening = await server.start();
  let instance: LocalInstance | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (why: string) =>
    (stopping ??= (async () => {
      process.stdout.write(`\nstopping (${why})…\n`);
      await server.stop(2000);
      await instance?.stop();
      logger.flush();
      process.stdout.write('stopped\n');
    })());
  process.once('SIGINT', () => void stop('SIGINT').then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(0)));
  process.once('SIGHUP', () => void stop('SIGHUP').then(() => process.exit(0)));

  try {
    const image = await ensureLocalImage(join(dataDir, 'image'), { projectRoot });
    instance = await LocalInstance.start({ registry, id: INSTANCE_ID, image, isolate, ...(rootOption ? { root: rootOption } : {}) });
    server.markReady();
    void instance.exited.then((exit) => {
      if (!stopping) {
        process.stderr.write(`${INSTANCE_ID}: the agent's sandbox exited (${exit.code ?? exit.signal}); it is stopped now and exec answers 409. See ${instance!.consoleLog}; restart npm start to start it again.\n`);
      }
    });
    const token = await writeDevToken(join(dataDir, 'dev-token'), secret);
    // Verified now, so that the first exec with it is decided inside uWS's upgrade handler:
    // a token's first upgrade waits for jose outside uWS's cork, and uWS then prints a
    // warning on this terminal.
    await verifier.verify(token);
    const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
    const apiUrl = `http://${HOST}:${listening}`;
    process.stdout.write(
      [
        `hypeman-exec: API server on ${apiUrl}, instance ${INSTANCE_ID} running (ready in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
        `  root ${shown(instance.root)}${isolate ? ` (sandbox: mount, pid, uts, ipc namespaces + chroot; ${ROOT_DESCRIPTIONS[instance.rootKind]})` : ' (NO sandbox: the agent runs on this host as you)'}; image ${image.rebuilt ? 'built' : 'up to date'}; agent ready ${Math.round(instance.readyMs)} ms after start`,
        `  data ${shown(dataDir)}; server log ${shown(logPath)}; agent log ${shown(instance.consoleLog)}; token in ${shown(join(dataDir, 'dev-token'))}`,
        `  browser terminal: ${apiUrl}/instances/${INSTANCE_ID}/terminal#token=${token}`,
        '',
        'In another terminal, from any directory:',
        // The launchers `npm run build` wrote: no npx, which is slow and, outside this
        // checkout, would ask the npm registry for a package of that name.
        `  export PATH=${shellQuote(join(projectRoot, 'dist', 'bin'))}:"$PATH"`,
        `  export HYPEMAN_TOKEN=${token}`,
        ...(listening === 8080 ? [] : [`  export HYPEMAN_API_URL=${apiUrl}`]),
        `  hypeman-exec ${INSTANCE_ID} uname -a`,
        `  hypeman-exec -it ${INSTANCE_ID} /bin/sh`,
        '  hypeman-exec ls',
        ...(isolate ? [] : [`  (-u USER does not work without root: the agent cannot switch users; it runs every command as you)`]),
        '',
        'Ctrl-C stops the server and the instance.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    await stop('start-up failed');
    throw error;
  }
}

main().catch((error: Error) => {
  process.stderr.write(`npm start: ${error instanceof CodedError ? `${error.code}: ` : ''}${error.message}\n`);
  process.exit(1);
});
