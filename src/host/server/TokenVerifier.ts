import { readFile } from 'node:fs/promises';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { UnauthorizedError } from './errors.js';
import { OBSERVE_CLAIM } from './ObservePolicy.js';

/** Who is calling, from a verified token. */
export interface Principal {
  /** The token's `sub`: the audited subject. */
  subject: string;
  /** Instance ids or names the token is limited to; undefined means any instance. */
  instances?: string[];
  /** The `observe` claim: instances (ids, names, or "*") where it may observe others' sessions (ObservePolicy). */
  observe?: string[];
}

export type TokenKeyConfig =
  | { kind: 'secret'; secret: string }
  | { kind: 'public-key'; pem: string; algorithms: Array<'RS256' | 'ES256'> };

/** Claims a token must carry besides `sub` and `exp`, when the server is configured with them. */
export interface TokenClaimRules {
  /** `iss` must equal this. */
  issuer?: string;
  /** `aud` must be or contain this. */
  audience?: string;
}

/** Tokens whose verification is remembered (the oldest is forgotten first). */
const VERIFIED_CACHE_SIZE = 4096;

interface VerifiedToken {
  principal: Principal;
  /** exp and nbf in ms since the epoch (nbf 0 when absent). */
  expiresAt: number;
  notBefore: number;
}

/** Shortest HS256 secret accepted: 32 bytes, the size of the hash (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;

/**
 * Verifies bearer JWTs: HS256 with a shared secret, or RS256/ES256 with a public key. Every
 * token must expire (`exp`) and name its subject (`sub`); `iss` and `aud` are checked when
 * configured. The `instances` claim (array of ids or names) restricts which instances a
 * token may use.
 */
export class TokenVerifier {
  readonly #key: Uint8Array | KeyObject;
  readonly #algorithms: string[];
  readonly #rules: TokenClaimRules;
  /** Tokens verified before, by their exact text: checked again for time only. */
  readonly #verified = new Map<string, VerifiedToken>();

  private constructor(key: Uint8Array | KeyObject, algorithms: string[], rules: TokenClaimRules) {
    this.#key = key;
    this.#algorithms = algorithms;
    this.#rules = rules;
  }

  static fromConfig(config: TokenKeyConfig, rules: TokenClaimRules = {}): TokenVerifier {
    if (config.kind === 'secret') {
      const secret = new TextEncoder().encode(config.secret);
      if (secret.length < MIN_SECRET_BYTES) {
        throw new Error(`the JWT secret must be at least ${MIN_SECRET_BYTES} bytes long; generate one with: openssl rand -hex 32`);
      }
      return new TokenVerifier(secret, ['HS256'], rules);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(config.pem);
    } catch (err) {
      throw new Error(`the JWT public key is not a PEM public key: ${(err as Error).message}`);
    }
    return new TokenVerifier(key, config.algorithms, rules);
  }

  static async fromPublicKeyFile(path: string, algorithms: Array<'RS256' | 'ES256'>, rules: TokenClaimRules = {}): Promise<TokenVerifier> {
    return TokenVerifier.fromConfig({ kind: 'public-key', pem: await readFile(path, 'utf8'), algorithms }, rules);
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: this.#algorithms,
        // A token that never expires cannot be revoked short of changing the key.
        requiredClaims: ['exp'],
        ...(this.#rules.issuer !== undefined ? { issuer: this.#rules.issuer } : {}),
        ...(this.#rules.audience !== undefined ? { audience: this.#rules.audience } : {}),
      }));
    } catch (err) {
      throw new UnauthorizedError(describeJoseError(err));
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      throw new UnauthorizedError('the token has no "sub" claim; the server audits every session by subject');
    }
    const principal: Principal = { subject: payload.sub };
    const instances = stringList(payload, 'instances', 'an array of instance ids or names');
    if (instances !== undefined) principal.instances = instances;
    const observe = stringList(payload, OBSERVE_CLAIM, 'an array of instance ids or names, or ["*"]');
    if (observe !== undefined) principal.observe = observe;
    this.#remember(token, { principal, expiresAt: payload.exp! * 1000, notBefore: (payload.nbf ?? 0) * 1000 });
    return principal;
  }

  /**
   * The principal of a token this verifier has verified before and that is still within its
   * exp and nbf; undefined otherwise (then verify() decides). The key and the claim rules
   * never change for a verifier, so the signature and claims need no second look. Lets the
   * server decide an upgrade without waiting (jose verifies asynchronously).
   */
  verifiedBefore(token: string): Principal | undefined {
    const known = this.#verified.get(token);
    if (!known) return undefined;
    const now = Date.now();
    if (now >= known.expiresAt || now < known.notBefore) {
      this.#verified.delete(token);
      return undefined;
    }
    return known.principal;
  }

  #remember(token: string, verified: VerifiedToken): void {
    if (this.#verified.size >= VERIFIED_CACHE_SIZE) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(token, verified);
  }
}

/** A claim that must be an array of strings when present. */
function stringList(payload: JWTPayload, claim: string, what: string): string[] | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((i) => typeof i === 'string')) throw new UnauthorizedError(`the token's "${claim}" claim must be ${what}`);
  return value;
}

/** Where tokens come from, for the messages that ask for a new one. */
const MINT_HINT = 'on the server host: hypeman-exec-server token --sub NAME; with npm start: .hypeman/dev-token';

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return `the token has expired; get a new one from whoever issued it (${MINT_HINT})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is not valid for this server';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm this server does not accept';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') {
      return err.claim === 'exp'
        ? 'the token has no "exp" claim; this server accepts only tokens that expire'
        : `the token has no "${err.claim}" claim; this server requires one`;
    }
    return `the token's "${err.claim}" claim is not valid: ${err.reason}`;
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'the token is not a well-formed JWT';
  return 'the token could not be verified';
}

/** Whether a principal may use an instance known by `id` and `name`. */
export function mayUseInstance(principal: Principal, id: string, name: string): boolean {
  return principal.instances === undefined || principal.instances.includes(id) || principal.instances.includes(name);
}
