import { ApiRefusedError, ApiUnreachableError, ExecClientError, RemoteExecError } from '../client/errors.js';

/** What the CLI knows when something fails: where it went and what it asked for. */
export interface FailureContext {
  apiUrl: string;
  instance: string;
}

/**
 * The one line printed on stderr (before exit status 255) when the command could not be run
 * or the session broke: what happened, in the user's terms, and what to do about it.
 */
export function describeFailure(err: unknown, ctx: FailureContext): string {
  if (err instanceof ApiRefusedError) return describeRefusal(err, ctx);
  if (err instanceof ApiUnreachableError) {
    const cause = (err.cause as Error | undefined)?.message ?? err.message;
    return `cannot reach the API at ${ctx.apiUrl} (${cause}); is the server running? set --api-url or HYPEMAN_API_URL`;
  }
  if (err instanceof RemoteExecError) {
    switch (err.code) {
      case 'AGENT_UNREACHABLE':
        return `the agent of instance ${ctx.instance} is not answering: ${err.message}; if the VM is still booting, retry with --wait-for-agent SECONDS`;
      case 'INSTANCE_NOT_RUNNING':
        return `instance ${ctx.instance} is not running: ${err.message}`;
      case 'AGENT_DISCONNECTED':
        return `lost the agent of instance ${ctx.instance} mid-session: ${err.message}; check that the instance is still running`;
      default:
        return `${err.message} (${err.code})`;
    }
  }
  if (err instanceof ExecClientError) {
    if (err.code === 'PEER_UNRESPONSIVE') return `the agent of instance ${ctx.instance} is not answering: ${err.message}`;
    return `${err.message} (${err.code})`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

function describeRefusal(err: ApiRefusedError, ctx: FailureContext): string {
  switch (err.code) {
    case 'UNAUTHORIZED':
      return `the API rejected the token (HTTP ${err.status}): ${err.message}; set --token or HYPEMAN_TOKEN`;
    case 'FORBIDDEN_INSTANCE':
      return `the token is not allowed to use instance ${ctx.instance} (HTTP ${err.status}): ${err.message}`;
    case 'INSTANCE_NOT_FOUND':
      return `no such instance: ${ctx.instance} (HTTP ${err.status}): ${err.message}`;
    case 'INSTANCE_NOT_RUNNING':
      return `instance ${ctx.instance} is not running (HTTP ${err.status}): ${err.message}`;
    default:
      return `the API at ${ctx.apiUrl} refused the session (HTTP ${err.status} ${err.code}): ${err.message}`;
  }
}
