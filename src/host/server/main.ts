#!/usr/bin/env node
// hypeman-exec-server: the API server on its own, for hosts that run real VMs.
import pino from 'pino';
import { InstanceRegistry } from '../registry/InstanceRegistry.js';
import { packageVersion } from '../version.js';
import { ApiServer } from './ApiServer.js';
import { HostPolicy } from './HostPolicy.js';
import { OriginPolicy } from './OriginPolicy.js';
import { RegistryDirectory } from './RegistryDirectory.js';
import { ConfigError, parseServerConfig } from './ServerConfig.js';
import { runTokenCommand } from './tokenCommand.js';
import { TokenVerifier } from './TokenVerifier.js';
import { RecordingStore } from './recording/RecordingStore.js';

async function main(): Promise<number> {
  if (process.argv[2] === 'token') return runTokenCommand(process.argv.slice(3), process.env, process.stdout, process.stderr);
  const config = await parseServerConfig(process.argv.slice(2), process.env, packageVersion());
  if (!config) return 0;
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  const recordings = config.recordings ? new RecordingStore(config.recordings, logger) : undefined;
  await recordings?.start();
  const server = new ApiServer({
    host: config.host,
    port: config.port,
    directory: new RegistryDirectory(new InstanceRegistry(config.dataDir)),
    verifier: TokenVerifier.fromConfig(config.tokenKey, config.tokenClaims),
    origins: new OriginPolicy(config.allowedOrigins),
    hosts: new HostPolicy(config.publicHosts),
    logger,
    limits: {
      maxPayload: config.maxFrameSize,
      agentKeepAliveMs: config.agentKeepAliveSeconds * 1000,
      agentStartTimeoutMs: config.agentStartTimeoutSeconds * 1000,
      smallMessagesPerSecond: config.maxSmallMessages,
    },
    sessionLimits: config.sessionLimits,
    recordings,
  });
  await server.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      process.removeAllListeners('SIGTERM');
      process.removeAllListeners('SIGINT');
      void server.stop(config.shutdownGraceSeconds * 1000).then(() => {
        recordings?.stop();
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`hypeman-exec-server: ${err instanceof ConfigError ? err.message : err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
