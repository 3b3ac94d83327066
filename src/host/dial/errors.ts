/** Why the host could not reach a guest agent. `code` is stable; messages say what to do. */
export class AgentDialError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
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
    super('VSOCK_SOCKET_UNAVAILABLE', `the instance's vsock socket ${path} ${why}`, { cause });
  }
}

/** The connection was closed without an `OK` line: nobody listens on the guest port. */
export class AgentNotListeningError extends AgentDialError {
  constructor(port: number) {
    super('AGENT_NOT_LISTENING', `the guest agent is not listening on port ${port} (is it running?)`);
  }
}

/** Something other than `OK <n>` came back: not a hypervisor vsock socket. */
export class HandshakeProtocolError extends AgentDialError {
  constructor(answer: string) {
    super(
      'HANDSHAKE_PROTOCOL',
      `the vsock socket answered ${JSON.stringify(answer)} instead of "OK <port>"; is this a Cloud Hypervisor or Firecracker vsock socket?`,
    );
  }
}

export class DialTimeoutError extends AgentDialError {
  constructor(what: 'connect' | 'handshake', ms: number) {
    super(
      what === 'connect' ? 'CONNECT_TIMEOUT' : 'HANDSHAKE_TIMEOUT',
      what === 'connect'
        ? `connecting to the vsock socket took longer than ${ms} ms`
        : `the hypervisor did not answer CONNECT within ${ms} ms (is the guest up?)`,
    );
  }
}

export class DialAbortedError extends AgentDialError {
  constructor() {
    super('DIAL_ABORTED', 'connecting to the agent was cancelled');
  }
}

/** Wait-for-agent ran out of time; `cause` is the last attempt's failure. */
export class AgentWaitTimeoutError extends AgentDialError {
  constructor(seconds: number, last: Error) {
    super('AGENT_WAIT_TIMEOUT', `the agent did not answer within ${seconds} s; last attempt: ${last.message}`, { cause: last });
  }
}
