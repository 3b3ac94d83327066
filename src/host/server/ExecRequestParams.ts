import type { ExecRequest } from '../../wire/index.js';
import { BadRequestError } from './errors.js';

/** A request to run a command, plus how long to wait for the agent (not part of ExecStart). */
export interface ExecParams {
  request: ExecRequest;
  waitForAgentSeconds: number;
}

/** Longest `wait_for_agent` accepted, so a request cannot pin a session for hours. */
export const MAX_WAIT_FOR_AGENT_SECONDS = 600;

const REQUEST_KEYS = ['command', 'tty', 'env', 'cwd', 'user', 'timeout', 'rows', 'cols'];

export function emptyRequest(): ExecRequest {
  return { argv: [], env: Object.create(null) as Record<string, string>, cwd: '', user: '', tty: false, timeoutSeconds: 0 };
}

function parseBool(name: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0' || value === '') return false;
  throw new BadRequestError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function parseCount(name: string, value: unknown, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) {
    throw new BadRequestError(`${name} must be a whole number from 0 to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function checkText(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new BadRequestError(`${name} must be a string`);
  if (value.includes('\0')) throw new BadRequestError(`${name} must not contain NUL`);
  return value;
}

function setEnv(env: Record<string, string>, name: string, value: string): void {
  if (name === '' || name.includes('=') || name.includes('\0')) {
    throw new BadRequestError(`environment variable name ${JSON.stringify(name)} must be non-empty and contain no '=' or NUL`);
  }
  env[name] = checkText(`environment variable ${name}`, value);
}

function setWindow(request: ExecRequest, rows: unknown, cols: unknown): void {
  if (rows === undefined && cols === undefined) return;
  if (rows === undefined || cols === undefined) throw new BadRequestError('rows and cols go together: give both or neither');
  const r = parseCount('rows', rows, 0xffff);
  const c = parseCount('cols', cols, 0xffff);
  if (r === 0 || c === 0) throw new BadRequestError('rows and cols must be at least 1');
  request.window = { rows: r, cols: c };
}

/** Whether the query carries a request (then the client must not send ExecStart, §8.1). */
export function queryHasRequest(query: URLSearchParams): boolean {
  return REQUEST_KEYS.some((k) => query.has(k));
}

export function parseWaitForAgent(value: unknown): number {
  if (value === undefined || value === null || value === '') return 0;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > MAX_WAIT_FOR_AGENT_SECONDS) {
    throw new BadRequestError(`wait_for_agent must be a number of seconds from 0 to ${MAX_WAIT_FOR_AGENT_SECONDS}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The request from query parameters (spec §8.1 table). */
export function parseQueryRequest(query: URLSearchParams): ExecRequest {
  const request = emptyRequest();
  request.argv = query.getAll('command').map((a) => checkText('command', a));
  if (query.has('tty')) request.tty = parseBool('tty', query.get('tty')!);
  for (const entry of query.getAll('env')) {
    const eq = entry.indexOf('=');
    if (eq < 0) throw new BadRequestError(`env must be NAME=value, got ${JSON.stringify(entry)}`);
    setEnv(request.env, entry.slice(0, eq), entry.slice(eq + 1));
  }
  if (query.has('cwd')) request.cwd = checkText('cwd', query.get('cwd'));
  if (query.has('user')) request.user = checkText('user', query.get('user'));
  if (query.has('timeout')) request.timeoutSeconds = parseCount('timeout', query.get('timeout'), 0xffffffff);
  setWindow(request, query.get('rows') ?? undefined, query.get('cols') ?? undefined);
  return request;
}

/** The compatible dialect's first text message (spec §8.2). */
export function parseJsonRequest(text: string): ExecParams {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequestError('the first text message must be a JSON object such as {"command":["ls"],"tty":false}');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('the first text message must be a JSON object such as {"command":["ls"],"tty":false}');
  }
  const o = body as Record<string, unknown>;
  const request = emptyRequest();
  if (o.command !== undefined) {
    if (!Array.isArray(o.command)) throw new BadRequestError('command must be an array of strings');
    request.argv = o.command.map((a) => checkText('command', a));
  }
  if (o.tty !== undefined) {
    if (typeof o.tty !== 'boolean') throw new BadRequestError('tty must be true or false');
    request.tty = o.tty;
  }
  if (o.env !== undefined && o.env !== null) {
    if (typeof o.env !== 'object' || Array.isArray(o.env)) throw new BadRequestError('env must be an object of strings');
    for (const [k, v] of Object.entries(o.env)) setEnv(request.env, k, v as string);
  }
  if (o.cwd !== undefined) request.cwd = checkText('cwd', o.cwd);
  if (o.user !== undefined) request.user = checkText('user', o.user);
  if (o.timeout !== undefined && o.timeout !== null) request.timeoutSeconds = parseCount('timeout', o.timeout, 0xffffffff);
  setWindow(request, o.rows ?? undefined, o.cols ?? undefined);
  return { request, waitForAgentSeconds: parseWaitForAgent(o.wait_for_agent) };
}
