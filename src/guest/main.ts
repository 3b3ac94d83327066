#!/usr/bin/env node
// hypeman-exec-agent: the guest agent. Listens for exec sessions (vsock, unix, loopback
// tcp) and runs each session's command in the container root. See src/guest/README.md.
import { parseAgentOptions } from './AgentCli.js';
import { createAgentLog } from './AgentLog.js';
import { AgentServer } from './AgentServer.js';
import { AgentStartError } from './errors.js';
import { openListener, type Listener } from './listen/Listeners.js';
import { locateSpawnHelper } from './command/SpawnHelper.js';

async function main(): Promise<number> {
  let options;
  try {
    options = await parseAgentOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`hypeman-exec-agent: ${(error as Error).message}\n`);
    return 2;
  }
  if ('exit' in options) {
    process.stdout.write(`${options.output}\n`);
    return options.exit;
  }
  const agentLog = createAgentLog(options.logLevel);
  const log = agentLog.log;

  let server: AgentServer;
  const listeners: Listener[] = [];
  try {
    const helperPath = locateSpawnHelper(options.spawnHelper);
    server = AgentServer.start({
      root: options.root,
      helperPath,
      maxSessions: options.maxSessions,
      defaultCwd: options.defaultCwd,
      startTimeoutMs: options.startTimeoutSeconds * 1000,
      maxLingerSeconds: options.maxLingerSeconds,
      lingerBufferBytes: options.lingerBufferBytes,
      configuredEnv: options.env,
      log,
    });
    const opened = await Promise.allSettled(
      options.listen.map((address) => openListener(address, (socket) => server.accept(socket), { vsockWaitSeconds: options.vsockWaitSeconds, log })),
    );
    for (const result of opened) if (result.status === 'fulfilled') listeners.push(result.value);
    const failure = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    for (const listener of listeners) log.info({ address: listener.address }, 'listening');
    log.info({ root: options.root, helper: helperPath, maxSessions: options.maxSessions }, 'agent ready');
    // Listening: the logger's own code is loaded only now, and the lines so far written.
    void agentLog.load();
  } catch (error) {
    const message = error instanceof AgentStartError ? error.message : `cannot start: ${(error as Error).message}`;
    log.fatal({ code: (error as AgentStartError).code }, message);
    await agentLog.close();
    process.stderr.write(`hypeman-exec-agent: ${message}\n`);
    await Promise.all(listeners.map((l) => l.close()));
    return 1;
  }

  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      // A repeated signal does not cut the hang-up of running commands short.
      if (stopping) return void log.info({ signal }, 'already stopping');
      stopping = true;
      log.info({ signal, sessions: server.sessionCount }, 'stopping');
      void Promise.all(listeners.map((l) => l.close()))
        .then(() => server.shutdown())
        .then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await stopped;
  log.info('stopped');
  await agentLog.close();
  return 0;
}

main().then(
  // Leave even if a client keeps a connection open: its bytes are with the kernel.
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`hypeman-exec-agent: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
