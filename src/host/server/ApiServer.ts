import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { type ExecRequest, HEADER_SIZE, WEBSOCKET_SUBPROTOCOL } from '../../wire/index.js';
import {
  ApiError,
  BadRequestError,
  ForbiddenInstanceError,
  ForbiddenOriginError,
  InstanceNotFoundApiError,
  InstanceNotRunningApiError,
  MisdirectedHostError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
  statusLine,
} from './errors.js';
import type { DialectName, RelayClient } from './relay/ClientDialect.js';
import { CopyRelay } from './relay/copy/CopyRelay.js';
import { DEFAULT_RELAY_LIMITS, ExecRelay, type RelayLimits } from './relay/ExecRelay.js';
import { CopyRecord } from './relay/copy/CopyRecord.js';
import { mayObserveOthers } from './ObservePolicy.js';
import { type PathInfo, type StatQuery, parseStatQuery, statInstancePath } from './statPath.js';
import { listAgentSessions } from './AgentSessionList.js';
import { parseQueryRequest, parseWaitForAgent, queryHasRequest } from './ExecRequestParams.js';
import { ExecMetrics } from './ExecMetrics.js';
import { HostPolicy } from './HostPolicy.js';
import type { InstanceDirectory, InstanceSummary } from './InstanceDirectory.js';
import { OriginPolicy } from './OriginPolicy.js';
import { SessionCounts, type SessionLimits } from './SessionLimits.js';
import { type Principal, type TokenVerifier, mayUseInstance } from './TokenVerifier.js';
import { BufferReclaimer } from '../../runtime/BufferReclaimer.js';
import { WebPages, type WebResponse } from './WebPages.js';
import type { RecordingStore } from './recording/RecordingStore.js';
import { recordingRoute } from './recording/recordingRoute.js';

/** Subprotocol that selects the compatible JSON dialect explicitly (spec §8.2, §8.3). */
export const JSON_SUBPROTOCOL = 'hypeman-exec.json';
const BEARER_PREFIX = 'bearer.';

export interface ApiServerOptions {
  host: string;
  port: number;
  directory: InstanceDirectory;
  verifier: TokenVerifier;
  origins?: OriginPolicy;
  /** The names clients may reach the server by (Host); default: IP literals and localhost. */
  hosts?: HostPolicy;
  logger: Logger;
  limits?: Partial<RelayLimits>;
  /** Sessions at once, per subject, per instance; beyond them upgrades are refused (503/429). */
  sessionLimits?: Partial<SessionLimits>;
  /**
   * False: the server answers /healthz with "starting" and refuses sessions with 503
   * STARTING until markReady() (npm start, while its local instance comes up). Default true.
   */
  ready?: boolean;
  /** The browser terminal's files; default: the checkout's dist/web (503 until built). */
  web?: WebPages;
  /** Where TTY sessions are recorded (--record-dir); absent: none are. */
  recordings?: RecordingStore;
}

/** The WebSocket endpoints: an exec session (§8), or a copy or stat operation (§12.10). */
type Route = 'exec' | 'copy';

interface SessionData {
  route: Route;
  dialect: DialectName;
  protocol: string;
  principal: Principal;
  instance: InstanceSummary;
  queryRequest: ExecRequest | null;
  waitForAgentSeconds: number;
  remote: string;
  relay?: ExecRelay | CopyRelay;
  closed: boolean;
}

/** What an upgrade request asks for, from its headers and query. */
interface UpgradeRequest {
  framed: boolean;
  json: boolean;
  queryRequest: ExecRequest | null;
  waitForAgentSeconds: number;
}

/** The bearer token: `Authorization: Bearer`, or (browsers) the offered `bearer.<token>` subprotocol. */
function bearerToken(authorization: string, protocols: string[]): string {
  let token = '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (m) token = m[1];
  else if (authorization !== '') throw new UnauthorizedError('the Authorization header must be "Bearer <token>"');
  if (!token) {
    const offered = protocols.find((p) => p.startsWith(BEARER_PREFIX));
    if (offered) token = offered.slice(BEARER_PREFIX.length);
  }
  if (!token) {
    throw new UnauthorizedError('no token: send "Authorization: Bearer <token>" (browsers: offer the subprotocol "bearer.<token>")');
  }
  return token;
}

/** Headers copied in the upgrade handler: uWS's request object dies when it returns. */
interface UpgradeHeaders {
  route: Route;
  instance: string;
  key: string;
  protocols: string[];
  extensions: string;
  authorization: string;
  origin: string;
  host: string;
  query: string;
  remote: string;
}

/**
 * The HTTP and WebSocket API (spec §8) on uWebSockets.js: `GET /instances/{id}/exec` and
 * `GET /instances/{id}/cp` in both dialects, `GET /instances/{id}/stat`, `GET /instances`,
 * `GET /instances/{id}`, `GET /instances/{id}/sessions`, `GET /healthz`, `GET /metrics`,
 * `GET /instances/{id}/sessions/{sid}/recording`, and the browser terminal: `GET /`,
 * `GET /instances/{id}/terminal`, `GET /instances/{id}/sessions/{sid}/player`, `GET /assets/{file}`.
 */
export class ApiServer {
  readonly metrics = new ExecMetrics();
  readonly #options: ApiServerOptions;
  readonly #limits: RelayLimits;
  readonly #origins: OriginPolicy;
  readonly #hosts: HostPolicy;
  readonly #relays: SessionCounts<ExecRelay | CopyRelay>;
  /** Gives back relayed buffers' memory while sessions run (see src/runtime). */
  readonly #reclaimer = new BufferReclaimer();
  #ready: boolean;
  readonly #audit: Logger;
  #app: TemplatedApp | null = null;
  #listenSocket: us_listen_socket | null = null;
  #port = 0;
  #stopping = false;

  constructor(options: ApiServerOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_RELAY_LIMITS, ...options.limits };
    this.#origins = options.origins ?? new OriginPolicy();
    this.#hosts = options.hosts ?? new HostPolicy();
    this.#relays = new SessionCounts(options.sessionLimits);
    this.#ready = options.ready ?? true;
    this.#audit = options.logger.child({ component: 'audit' });
  }

  get port(): number {
    return this.#port;
  }

  get activeSessions(): number {
    return this.#relays.size;
  }

  /** What /healthz says: starting (until markReady), ok, or stopping. */
  get status(): 'starting' | 'ok' | 'stopping' {
    return this.#stopping ? 'stopping' : this.#ready ? 'ok' : 'starting';
  }

  /** Everything the server serves is up: sessions are accepted from now on. */
  markReady(): void {
    this.#ready = true;
  }

  /** Listens; resolves with the bound port (useful with port 0). */
  start(): Promise<number> {
    const app = uWS.App();
    this.#app = app;
    const web = this.#options.web ?? WebPages.load();
    if (web.missing) this.#options.logger.warn(web.missing);
    for (const route of ['exec', 'copy'] as const) {
      const path = route === 'exec' ? '/instances/:id/exec' : '/instances/:id/cp';
      app.ws<SessionData>(path, {
        compression: uWS.DISABLED,
        // A little over the frame limit, so an oversize frame gets FRAME_TOO_LARGE from us
        // rather than a bare close from uWS.
        maxPayloadLength: HEADER_SIZE + this.#limits.maxPayload + 64 * 1024,
        // Our own high-water mark pauses the agent long before this; uWS must never drop.
        maxBackpressure: 64 * 1024 * 1024,
        closeOnBackpressureLimit: 0,
        idleTimeout: 120,
        sendPingsAutomatically: true,
        upgrade: (res, req, context) => this.#upgrade(res, req, context, route),
        open: (ws) => this.#open(ws),
        message: (ws, message, isBinary) => ws.getUserData().relay?.clientMessage(message, isBinary),
        drain: (ws) => ws.getUserData().relay?.clientDrain(),
        close: (ws, code) => {
          const data = ws.getUserData();
          data.closed = true;
          if (data.relay) {
            data.relay.clientClosed(code);
            this.#relays.delete(data.relay);
            if (this.#relays.size === 0) this.#reclaimer.stop();
          }
        },
      });
      app.get(path, (res, req) => {
        if (!this.#hostAllowed(res, req)) return;
        this.#sendError(res, { aborted: false }, new BadRequestError('this endpoint needs a WebSocket upgrade (GET with Upgrade: websocket)'));
      });
    }
    app.get('/instances/:id/stat', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      const authorization = req.getHeader('authorization');
      const origin = req.getHeader('origin');
      const host = req.getHeader('host');
      const id = req.getParameter(0);
      const query = req.getQuery() ?? '';
      const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
      this.#handle(res, async () => {
        if (!this.#origins.allows(origin, host)) throw new ForbiddenOriginError(origin);
        const stat = parseStatQuery(new URLSearchParams(query));
        const principal = await this.#authenticate(authorization, []);
        const instance = await this.#findPermitted(decodeParameter(id), principal);
        return { body: JSON.stringify(await this.#stat(principal, instance, stat, remote)) };
      });
    });
    app.get('/healthz', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      res.cork(() => {
        res.writeHeader('content-type', 'application/json').end(JSON.stringify({ status: this.status, sessions: this.#relays.size }));
      });
    });
    app.get('/metrics', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      this.#handle(res, async () => {
        const body = await this.metrics.registry.metrics();
        return { type: this.metrics.registry.contentType, body };
      });
    });
    app.get('/instances', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      const authorization = req.getHeader('authorization');
      this.#handle(res, async () => {
        const principal = await this.#authenticate(authorization, []);
        const all = await this.#options.directory.list();
        return { body: JSON.stringify(all.filter((i) => mayUseInstance(principal, i.id, i.name)).map(publicInstance)) };
      });
    });
    this.#instanceRoute(app, '/instances/:id/sessions', async (principal, instance) => {
      if (instance.state !== 'running') throw new InstanceNotRunningApiError(instance.id, instance.state);
      return listAgentSessions(instance.id, principal.subject, (signal) => this.#options.directory.connectAgent(instance, 0, signal));
    });
    app.get('/instances/:id/sessions/:session/recording', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      const authorization = req.getHeader('authorization');
      const id = req.getParameter(0);
      const session = req.getParameter(1);
      recordingRoute(res, this.#options.recordings, {
        authorize: async () => {
          const principal = await this.#authenticate(authorization, []);
          return { principal, instance: await this.#findPermitted(decodeParameter(id), principal) };
        },
        session,
        fail: (state, err) => this.#sendError(res, state, err),
      });
    });
    this.#instanceRoute(app, '/instances/:id', async (_principal, instance) => publicInstance(instance));
    const page = (res: HttpResponse, req: HttpRequest) => {
      if (!this.#hostAllowed(res, req)) return;
      this.#sendWeb(res, web.page(req.getUrl()));
    };
    app.get('/', page);
    app.get('/instances/:id/terminal', page);
    app.get('/instances/:id/sessions/:session/player', page);
    // Browsers ask for it on their own; the page has no icon.
    app.get('/favicon.ico', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      res.cork(() => res.writeStatus('204 No Content').writeHeader('cache-control', 'public, max-age=86400').end());
    });
    app.get('/assets/:name', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      const asset = web.asset(req.getParameter(0), req.getHeader('accept-encoding'));
      if (asset) this.#sendWeb(res, asset);
      else this.#sendError(res, { aborted: false }, new NotFoundError(`GET ${req.getUrl()}`));
    });
    app.any('/*', (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      this.#sendError(res, { aborted: false }, new NotFoundError(`${req.getMethod().toUpperCase()} ${req.getUrl()}`));
    });

    return new Promise((resolve, reject) => {
      // Exclusive: uWS otherwise listens with SO_REUSEPORT, and a second server started on a
      // port in use (a second npm start) would share its connections instead of failing.
      listenExclusive(app, this.#options.host, this.#options.port, (token) => {
        if (!token) {
          reject(new Error(`cannot listen on ${this.#options.host}:${this.#options.port}; is the port in use? Set --port or PORT`));
          return;
        }
        this.#listenSocket = token;
        this.#port = uWS.us_socket_local_port(token);
        this.#options.logger.info({ host: this.#options.host, port: this.#port }, 'API server listening');
        resolve(this.#port);
      });
    });
  }

  /**
   * Stops accepting, lets running sessions finish for `graceMs`, then ends the rest with
   * SHUTTING_DOWN (spec §8.1).
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    if (this.#listenSocket) {
      uWS.us_listen_socket_close(this.#listenSocket);
      this.#listenSocket = null;
    }
    const deadline = Date.now() + graceMs;
    while (this.#relays.size > 0 && Date.now() < deadline) await delay(50);
    for (const relay of [...this.#relays]) relay.shutdown();
    // Let the close frames go out before the event loop is allowed to end.
    await delay(20);
    this.#reclaimer.stop();
    this.#options.logger.info('API server stopped');
  }

  // ---- WebSocket upgrade ----------------------------------------------------------------

  #upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, route: Route): void {
    const headers: UpgradeHeaders = {
      route,
      instance: req.getParameter(0),
      key: req.getHeader('sec-websocket-key'),
      protocols: req
        .getHeader('sec-websocket-protocol')
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== ''),
      extensions: req.getHeader('sec-websocket-extensions'),
      authorization: req.getHeader('authorization'),
      origin: req.getHeader('origin'),
      host: req.getHeader('host'),
      query: req.getQuery() ?? '',
      remote: Buffer.from(res.getRemoteAddressAsText()).toString(),
    };
    let ready: SessionData | null;
    try {
      ready = this.#authorizeUpgradeNow(headers);
    } catch (err) {
      this.#sendError(res, { aborted: false }, err);
      return;
    }
    if (ready) {
      // Decided inside uWS's own upgrade handler: the response is corked by uWS and the
      // upgrade is the one it expects, the 101 in one write.
      res.upgrade<SessionData>(ready, headers.key, ready.protocol, headers.extensions, context);
      return;
    }
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    this.#authorizeUpgrade(headers).then(
      (data) => {
        if (state.aborted) return;
        // Not inside res.cork(): after an upgrade, this uWS build's cork() reads the new
        // WebSocket's memory as the old response's state and, when a stale bit says
        // "Connection: close", shuts the socket at once (about 1 session in 100 under load;
        // uNetworking/uWebSockets#1928, fixed upstream by PR #1929). Uncorked, the 101 goes out
        // in a few small writes and uWS prints a warning on stderr. Only a token's first use
        // comes here: afterwards the upgrade is decided at once (#authorizeUpgradeNow).
        res.upgrade<SessionData>(data, headers.key, data.protocol, headers.extensions, context);
      },
      (err) => this.#sendError(res, state, err),
    );
  }

  /**
   * The upgrade decided without waiting, when it can be: a token verified before (jose
   * verifies asynchronously) and a directory that answers at once. Null: decide it later.
   */
  #authorizeUpgradeNow(h: UpgradeHeaders): SessionData | null {
    const request = this.#upgradeRequest(h);
    const principal = this.#options.verifier.verifiedBefore(bearerToken(h.authorization, h.protocols));
    const directory = this.#options.directory;
    if (!principal || !directory.findNow) return null;
    const idOrName = decodeParameter(h.instance);
    let instance: InstanceSummary | undefined;
    try {
      instance = directory.findNow(idOrName);
    } catch (err) {
      throw new BadRequestError((err as Error).message);
    }
    return this.#sessionData(h, request, principal, this.#permitted(idOrName, principal, instance));
  }

  async #authorizeUpgrade(h: UpgradeHeaders): Promise<SessionData> {
    const request = this.#upgradeRequest(h);
    const principal = await this.#authenticate(h.authorization, h.protocols);
    const instance = await this.#findPermitted(decodeParameter(h.instance), principal);
    return this.#sessionData(h, request, principal, instance);
  }

  /** What the upgrade asks for, checked before anything slower, so a bad request costs nothing. */
  #upgradeRequest(h: UpgradeHeaders): UpgradeRequest {
    if (!this.#hosts.allows(h.host)) throw new MisdirectedHostError(h.host);
    if (this.#stopping) throw new UnavailableError('the API server is shutting down; retry later');
    if (!this.#ready) throw new ApiError(503, 'STARTING', 'the API server is still starting; retry in a moment');
    if (!this.#origins.allows(h.origin, h.host)) throw new ForbiddenOriginError(h.origin);
    const query = new URLSearchParams(h.query);
    return {
      framed: h.protocols.includes(WEBSOCKET_SUBPROTOCOL),
      json: h.protocols.includes(JSON_SUBPROTOCOL),
      // A copy's request always comes in-band (§12.10); the query only says how long to wait for the agent.
      queryRequest: h.route === 'exec' && queryHasRequest(query) ? parseQueryRequest(query) : null,
      waitForAgentSeconds: parseWaitForAgent(query.get('wait_for_agent') ?? undefined),
    };
  }

  #sessionData(h: UpgradeHeaders, request: UpgradeRequest, principal: Principal, instance: InstanceSummary): SessionData {
    if (instance.state !== 'running') throw new InstanceNotRunningApiError(instance.id, instance.state);
    this.#relays.checkRoomFor(principal.subject, instance.id);
    return {
      route: h.route,
      dialect: request.framed ? 'framed' : 'compat',
      protocol: request.framed ? WEBSOCKET_SUBPROTOCOL : request.json ? JSON_SUBPROTOCOL : '',
      principal,
      instance,
      queryRequest: request.queryRequest,
      waitForAgentSeconds: request.waitForAgentSeconds,
      remote: h.remote,
      closed: false,
    };
  }

  #open(ws: WebSocket<SessionData>): void {
    const data = ws.getUserData();
    const client: RelayClient = {
      sendBinary: (bytes) => !data.closed && sendThroughBuffer(ws, bytes) !== 2,
      sendText: (text) => !data.closed && ws.send(text, false) !== 2,
      bufferedAmount: () => (data.closed ? 0 : ws.getBufferedAmount()),
      end: (code, reason) => {
        if (!data.closed) ws.end(code, reason.slice(0, 120));
      },
    };
    const context = {
      dialect: data.dialect,
      waitForAgentSeconds: data.waitForAgentSeconds,
      connectAgent: (wait: number, signal: AbortSignal) => this.#options.directory.connectAgent(data.instance, wait, signal),
      admit: () => this.#relays.admitRequest(relay),
      subject: data.principal.subject,
      instance: data.instance.id,
      observesAnyOwner: mayObserveOthers(data.principal, data.instance),
      remoteAddress: data.remote,
      metrics: this.metrics,
      audit: this.#audit,
      limits: this.#limits,
    };
    const recorder = this.#options.recordings?.recorder(data.principal.subject, data.instance.id);
    const relay: ExecRelay | CopyRelay = data.route === 'exec' ? new ExecRelay(client, { ...context, queryRequest: data.queryRequest, recorder }) : new CopyRelay(client, context);
    data.relay = relay;
    this.#relays.add(relay);
    this.#reclaimer.start();
    relay.open();
  }

  /** GET /instances/{id}/stat (spec §12.10.3): one Stat through the agent, audited as a copy is. */
  async #stat(principal: Principal, instance: InstanceSummary, query: StatQuery, remote: string): Promise<PathInfo> {
    if (this.#stopping) throw new UnavailableError('the API server is shutting down; retry later');
    if (!this.#ready) throw new ApiError(503, 'STARTING', 'the API server is still starting; retry in a moment');
    if (instance.state !== 'running') throw new InstanceNotRunningApiError(instance.id, instance.state);
    this.#relays.checkRoomFor(principal.subject, instance.id);
    return statInstancePath({
      query,
      connectAgent: (wait, signal) => this.#options.directory.connectAgent(instance, wait, signal),
      timeoutMs: this.#limits.agentStartTimeoutMs,
      instance: instance.id,
      record: new CopyRecord(this.metrics, this.#audit, { subject: principal.subject, instance: instance.id, remoteAddress: remote, dialect: 'compat' }),
    });
  }

  // ---- shared HTTP plumbing -------------------------------------------------------------

  /** `GET path` about one instance the token may use: `answer` becomes the JSON body. */
  #instanceRoute(app: TemplatedApp, path: string, answer: (principal: Principal, instance: InstanceSummary) => Promise<unknown>): void {
    app.get(path, (res, req) => {
      if (!this.#hostAllowed(res, req)) return;
      const authorization = req.getHeader('authorization');
      const id = req.getParameter(0);
      this.#handle(res, async () => {
        const principal = await this.#authenticate(authorization, []);
        const instance = await this.#findPermitted(decodeParameter(id), principal);
        return { body: JSON.stringify(await answer(principal, instance)) };
      });
    });
  }

  /** Answers 421 and returns false when the Host header is not a name of this server. */
  #hostAllowed(res: HttpResponse, req: HttpRequest): boolean {
    const host = req.getHeader('host');
    if (this.#hosts.allows(host)) return true;
    this.#sendError(res, { aborted: false }, new MisdirectedHostError(host));
    return false;
  }

  async #authenticate(authorization: string, protocols: string[]): Promise<Principal> {
    return this.#options.verifier.verify(bearerToken(authorization, protocols));
  }

  async #findPermitted(idOrName: string, principal: Principal): Promise<InstanceSummary> {
    let instance: InstanceSummary | undefined;
    try {
      instance = await this.#options.directory.find(idOrName);
    } catch (err) {
      throw new BadRequestError((err as Error).message);
    }
    return this.#permitted(idOrName, principal, instance);
  }

  /** The instance found for `idOrName`, if the principal may use it. */
  #permitted(idOrName: string, principal: Principal, instance: InstanceSummary | undefined): InstanceSummary {
    // A restricted token learns nothing about instances outside its list.
    if (!instance) throw principal.instances ? new ForbiddenInstanceError(idOrName) : new InstanceNotFoundApiError(idOrName);
    if (!mayUseInstance(principal, instance.id, instance.name)) throw new ForbiddenInstanceError(idOrName);
    return instance;
  }

  #handle(res: HttpResponse, produce: () => Promise<{ body: string; type?: string }>): void {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    produce().then(
      ({ body, type }) => {
        if (state.aborted) return;
        res.cork(() => res.writeHeader('content-type', type ?? 'application/json').end(body));
      },
      (err) => this.#sendError(res, state, err),
    );
  }

  #sendWeb(res: HttpResponse, response: WebResponse): void {
    res.cork(() => {
      res.writeStatus(statusLine(response.status));
      for (const [name, value] of response.headers) res.writeHeader(name, value);
      res.end(response.body);
    });
  }

  #sendError(res: HttpResponse, state: { aborted: boolean }, err: unknown): void {
    if (state.aborted) return;
    const e = err instanceof ApiError ? err : new ApiError(500, 'INTERNAL_ERROR', `the server failed: ${(err as Error).message}`);
    if (e.status === 500) this.#options.logger.error({ err }, 'request failed');
    res.cork(() => {
      res.writeStatus(statusLine(e.status)).writeHeader('content-type', 'application/json').end(JSON.stringify({ code: e.code, message: e.message }));
    });
  }
}

/**
 * Sends a binary message the way uWebSockets.js sends small ones: formatted into its own
 * buffer, then written. This build (20.30.0) writes a message of 16 KiB or more, sent without
 * the compress flag while its buffer is empty, straight to the socket (writev of header and
 * payload); when the kernel takes 10 bytes or fewer (a full socket: EAGAIN) it keeps the
 * rest of the header for later and drops the payload (fixed upstream by
 * uNetworking/uWebSockets PR #1662, after this build). The client then reads the next message
 * as this one's payload. The compress flag skips that path; no compression is ever negotiated
 * (compression: DISABLED), so uWS clears the flag and the message goes out uncompressed.
 * Returns uWS's status: 0 backpressure, 1 sent, 2 dropped.
 */
export function sendThroughBuffer(ws: WebSocket<unknown>, bytes: Uint8Array): number {
  return ws.send(bytes, true, true);
}

type ListenCallback = (token: us_listen_socket | false) => void;

/** uWS's ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT: no SO_REUSEPORT. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** uWS takes (host, port, options, callback); its typings name only (port, options, callback). */
function listenExclusive(app: TemplatedApp, host: string, port: number, callback: ListenCallback): void {
  (app as unknown as { listen(host: string, port: number, options: number, callback: ListenCallback): TemplatedApp }).listen(
    host,
    port,
    LIBUS_LISTEN_EXCLUSIVE_PORT,
    callback,
  );
}

function publicInstance(i: InstanceSummary): InstanceSummary {
  return { id: i.id, name: i.name, state: i.state, hypervisor: i.hypervisor };
}

function decodeParameter(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BadRequestError(`instance id ${JSON.stringify(raw)} is not valid percent-encoding`);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
