import { CodedError } from '../../wire/index.js';

/**
 * Failures of the local instance runtime. `code` is stable (tests and callers match on it);
 * the message says what happened and what to do.
 */
export type LocalInstanceErrorCode = 'SANDBOX_START_FAILED' | 'AGENT_NOT_READY' | 'INSTANCE_IN_USE' | 'ROOT_NOT_USABLE';

export class LocalInstanceError extends CodedError<LocalInstanceErrorCode> {}

/** The sandbox (or the agent in it) exited before its socket accepted a connection. */
export class SandboxStartError extends LocalInstanceError {
  constructor(detail: string) {
    super('SANDBOX_START_FAILED', `the local agent's sandbox exited before it was ready: ${detail}`);
  }
}

/** The agent's socket did not accept a connection in time. */
export class AgentNotReadyError extends LocalInstanceError {
  constructor(socketPath: string, seconds: number, logPath: string) {
    super('AGENT_NOT_READY', `the local agent did not accept connections on ${socketPath} within ${seconds} s; see ${logPath}`);
  }
}

/** Another live process runs this instance (another `npm start` on the same data directory). */
export class InstanceInUseError extends LocalInstanceError {
  constructor(id: string, pid: number) {
    super('INSTANCE_IN_USE', `instance ${id} is already running (sandbox pid ${pid}), probably from another \`npm start\` on this data directory; stop that one first`);
  }
}

export class RootNotUsableError extends LocalInstanceError {
  constructor(root: string, why: string) {
    super('ROOT_NOT_USABLE', `${root} cannot be the local instance's root: ${why}; give a directory (an unpacked container image, or leave the default)`);
  }
}
