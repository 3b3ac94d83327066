import { ApiRefusedError, ApiUnreachableError, ExecClientError, PeerUnresponsiveError, RemoteExecError, SessionLostError } from '../client/errors.js';
import { type ApiConnection, getInstance, listInstances } from '../client/instances.js';
import { LIST_COMMAND, PS_COMMAND, TOKEN_SOURCES } from './CliOptions.js';
import { nearNames } from './nearNames.js';

/** What the CLI knows when something fails: where it went, with what, and for which instance. */
export interface FailureContext {
  apiUrl: string;
  token: string;
  /** Absent for `hypeman-exec ls`. */
  instance?: string;
}

/** Advice that goes with every "no such instance": the command that lists them. */
const LIST_HINT = `hypeman-exec ${LIST_COMMAND} lists the instances your token may use`;

/**
 * The one line printed on stderr (before exit status 255) when the command could not be run
 * or the session broke: what happened, in the user's terms, and what to do about it. For an
 * instance that is not there or not running, asks the API what is there (names near the one
 * typed) or how the instance runs; a failure to learn more only leaves that part out.
 */
export async function describeFailure(err: unknown, ctx: FailureContext): Promise<string> {
  const instance = ctx.instance ?? '';
  if (err instanceof ApiRefusedError) return describeRefusal(err, ctx);
  if (err instanceof ApiUnreachableError) {
    const cause = (err.cause as Error | undefined)?.message ?? err.message;
    return `cannot reach the API at ${ctx.apiUrl} (${cause}); is the server running? set --api-url or HYPEMAN_API_URL`;
  }
  if (err instanceof RemoteExecError) {
    switch (err.code) {
      case 'AGENT_UNREACHABLE':
        return `the agent of instance ${instance} is not answering: ${err.message}; if the VM is still booting, retry with --wait-for-agent SECONDS`;
      case 'INSTANCE_NOT_RUNNING':
        return notRunning(ctx);
      case 'AGENT_DISCONNECTED':
        return `lost the agent of instance ${instance} mid-session: ${err.message}; check that the instance is still running`;
      case 'SESSION_NOT_FOUND':
        return `${err.message}; hypeman-exec ${PS_COMMAND} ${instance} lists your sessions there`;
      case 'SESSION_FORBIDDEN':
        return `${err.message} (the token's subject is the owner); hypeman-exec ${PS_COMMAND} ${instance} lists yours`;
      case 'SESSION_TAKEN_OVER':
        return 'another client attached to this session; it goes on there (the command was not stopped)';
      default:
        return `${err.message} (${err.code})`;
    }
  }
  if (err instanceof SessionLostError && err.lost instanceof PeerUnresponsiveError) {
    return `the agent of instance ${instance} is not answering: ${err.lost.message}; the session ${err.message}`;
  }
  if (err instanceof ExecClientError) {
    if (err.code === 'PEER_UNRESPONSIVE') return `the agent of instance ${instance} is not answering: ${err.message}`;
    return `${err.message} (${err.code})`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

async function describeRefusal(err: ApiRefusedError, ctx: FailureContext): Promise<string> {
  const instance = ctx.instance ?? '';
  switch (err.code) {
    case 'UNAUTHORIZED':
      if (!ctx.token) return `no token: set HYPEMAN_TOKEN or --token; a token comes from ${TOKEN_SOURCES}`;
      return `the API at ${ctx.apiUrl} rejected the token: ${err.message}${err.message.includes('hypeman-exec-server token') ? '' : `; a valid one comes from ${TOKEN_SOURCES}`}; set HYPEMAN_TOKEN or --token`;
    case 'INSTANCE_NOT_FOUND':
      return withSuggestion(`no instance ${instance} on ${ctx.apiUrl}`, await nearInstances(ctx), LIST_HINT);
    case 'FORBIDDEN_INSTANCE':
      // A token limited to some instances gets this for unknown names too: it learns nothing of the others.
      return withSuggestion(`your token does not grant instance ${instance}`, await nearInstances(ctx), `${LIST_HINT}; a token for another needs it in its "instances" claim`);
    case 'INSTANCE_NOT_RUNNING':
      return notRunning(ctx);
    case 'UNSUPPORTED_VERSION':
      return `${err.message} (HTTP ${err.status})`;
    default:
      return `the API at ${ctx.apiUrl} refused (HTTP ${err.status} ${err.code}): ${err.message}`;
  }
}

function api(ctx: FailureContext): ApiConnection {
  return { apiUrl: ctx.apiUrl, token: ctx.token || undefined, timeoutMs: 5000 };
}

/** `what; did you mean a or b? (hint)`, or `what; hint` when nothing is near. */
function withSuggestion(what: string, near: string[], hint: string): string {
  return near.length > 0 ? `${what}; did you mean ${near.join(' or ')}? (${hint})` : `${what}; ${hint}`;
}

/** Ids and names near the one typed among the instances the API lists; none if it cannot list them. */
async function nearInstances(ctx: FailureContext): Promise<string[]> {
  try {
    return nearNames(ctx.instance ?? '', (await listInstances(api(ctx))).flatMap((i) => [i.id, i.name]));
  } catch {
    return [];
  }
}

/** The instance's state, and how to start it: depends on what runs it. */
async function notRunning(ctx: FailureContext): Promise<string> {
  const instance = ctx.instance ?? '';
  let found;
  try {
    found = await getInstance(api(ctx), instance);
  } catch {
    return `instance ${instance} is not running: start it, then run this again`;
  }
  const what = `instance ${instance} is ${found.state}, not running`;
  if (found.hypervisor === 'local') return `${what}: it is a local instance, run by npm start; restart npm start (in its checkout) to start it again`;
  return `${what}: start its VM (${found.hypervisor}), then run this again; --wait-for-agent SECONDS waits for the agent while it boots`;
}
