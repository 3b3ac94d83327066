import { CodedError } from '../../wire/index.js';

/**
 * Failures answered before the WebSocket upgrade, as HTTP statuses with a JSON body
 * `{"code","message"}` (spec §8.3).
 */
export class ApiError extends CodedError {
  readonly status: number;

  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.status = status;
  }
}

export class BadRequestError extends ApiError {
  constructor(message: string) {
    super(400, 'INVALID_REQUEST', message);
  }
}

export class UnauthorizedError extends ApiError {
  constructor(message: string) {
    super(401, 'UNAUTHORIZED', message);
  }
}

export class ForbiddenOriginError extends ApiError {
  constructor(origin: string) {
    super(403, 'FORBIDDEN_ORIGIN', `origin ${origin} is not allowed; add it to --allowed-origins (HYPEMAN_ALLOWED_ORIGINS) on the server`);
  }
}

export class ForbiddenInstanceError extends ApiError {
  constructor(instance: string) {
    super(403, 'FORBIDDEN_INSTANCE', `this token does not grant access to instance ${instance}; ask for a token whose "instances" claim includes it`);
  }
}

export class InstanceNotFoundApiError extends ApiError {
  constructor(instance: string) {
    super(404, 'INSTANCE_NOT_FOUND', `no instance with id or name ${JSON.stringify(instance)}; list instances with GET /instances`);
  }
}

export class InstanceNotRunningApiError extends ApiError {
  constructor(instance: string, state: string) {
    super(409, 'INSTANCE_NOT_RUNNING', `instance ${instance} is ${state}, not running; start it first`);
  }
}

export class MisdirectedHostError extends ApiError {
  constructor(host: string) {
    super(
      421,
      'MISDIRECTED_HOST',
      host === ''
        ? 'the request has no Host header'
        : `${JSON.stringify(host.slice(0, 100))} is not a name of this server; if clients reach it by that name, add it with --public-host (HYPEMAN_PUBLIC_HOSTS)`,
    );
  }
}

export class NotFoundError extends ApiError {
  constructor(path: string) {
    super(404, 'NOT_FOUND', `no route for ${path}`);
  }
}

/** The instance's agent could not be reached, or did not answer (GET /instances/{id}/sessions). */
export class AgentUnreachableApiError extends ApiError {
  constructor(instance: string, detail: string, status = 502, code = 'AGENT_UNREACHABLE') {
    super(status, code, `the agent of instance ${instance} ${detail}`);
  }
}

export class UnavailableError extends ApiError {
  constructor(message: string) {
    super(503, 'SHUTTING_DOWN', message);
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  421: 'Misdirected Request',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
}
