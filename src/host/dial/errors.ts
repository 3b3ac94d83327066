import { CodedError } from '../../wire/index.js';

/** Why the host could not reach a guest agent. `code` is stable; messages say what to do. */
export class AgentDialError extends CodedError {
  /** Waiting may cure it (a VM still booting): wait-for-agent retries only these. */
  readonly retryable: boolean;

  constructor(code: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(code, message, options);
    this.retryable = options?.retryable ?? false;
  }
}

/** The hypervisor's vsock socket could not be opened (no such file, refused, permission). */
export class VsockSocketUnavailableError extends AgentDialError {
  constructor(path: string, cause: NodeJS.ErrnoException) {
    const why =
      cause.code === 'ENOENT'
        ? 'does not exist (is the VM running, and was it started with a vsock device?)'
        : cause.code === 'ECONNREFUSED'
          ? 'refuses connections (the hypervisor is not serving it; is the VM running?)'
          : cause.code === 'EACCES'
            ? 'is not accessible to this user'
            : `cannot be opened (${cause.code ?? cause.message})`;
    // Missing or not served yet: the hypervisor may still be creating it.
    const retryable = cause.code === 'ENOENT' || cause.code === 'ECONNREFUSED';
    super('VSOCK_SOCKET_UNAVAILABLE', `the instance's vsock socket ${path} ${why}`, { cause, retryable });
  }
}

/** The connection was closed without an `OK` line: nobody listens on the guest port, or the VMM is full. */
export class AgentNotListeningError extends AgentDialError {
  constructor(port: number) {
    super('AGENT_NOT_LISTENING', `the vsock socket closed the connection without OK: the guest agent is not listening on port ${port} (is it running?), or the hypervisor holds its maximum of connections (1023 on Cloud Hypervisor)`, { retryable: true });
  }
}

/** Something other than `OK <n>` came back: not a hypervisor vsock socket. */
export class HandshakeProtocolError extends AgentDialError {
  /** `answer` is already printable (escaped, cut short). */
  constructor(answer: string) {
    super(
      'HANDSHAKE_PROTOCOL',
      `the vsock socket answered "${answer}" instead of "OK <port>"; is this a Cloud Hypervisor or Firecracker vsock socket?`,
    );
  }
}

export class DialTimeoutError extends AgentDialError {
  constructor(what: 'connect' | 'handshake', ms: number, target: string) {
    super(
      what === 'connect' ? 'CONNECT_TIMEOUT' : 'HANDSHAKE_TIMEOUT',
      what === 'connect'
        ? `connecting to ${target} took longer than ${ms} ms (is the VM running?)`
        : `the hypervisor did not answer CONNECT within ${ms} ms (is the guest up?)`,
      { retryable: true },
    );
  }
}

export class DialAbortedError extends AgentDialError {
  constructor() {
    super('DIAL_ABORTED', 'connecting to the agent was cancelled');
  }
}

/** Wait-for-agent ran out of time; `cause` is the last failed attempt's error, if one failed. */
export class AgentWaitTimeoutError extends AgentDialError {
  constructor(seconds: number, last?: Error) {
    super(
      'AGENT_WAIT_TIMEOUT',
      last
        ? `the agent did not answer within ${seconds} s; last attempt: ${last.message}`
        : `the agent did not answer within ${seconds} s (the first attempt was still waiting; is the guest up?)`,
      { cause: last },
    );
  }
}
