import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { CodedError } from '../../wire/index.js';
import { OBSERVE_CLAIM } from './ObservePolicy.js';
import { MIN_SECRET_BYTES } from './TokenVerifier.js';

/** What tokens are signed with: the server's HS256 secret, or the private half of its RS256/ES256 key. */
export type SigningKeyConfig = { kind: 'secret'; secret: string } | { kind: 'private-key'; pem: string; algorithm: 'RS256' | 'ES256' };

/** The claims of a token this project mints (spec §8.3; the README shows one). */
export interface TokenClaims {
  sub: string;
  /** Instance ids or names; absent: every instance. */
  instances?: string[];
  /** Instances (ids, names, or "*") where the subject may observe others' sessions (ObservePolicy). */
  observe?: string[];
  iss?: string;
  aud?: string;
  /** Seconds until `exp` (negative: expired already, for tests). */
  ttlSeconds: number;
}

/** Longest lifetime a minted token may have. */
export const MAX_TOKEN_TTL_SECONDS = 366 * 24 * 3600;

export class TokenSigningError extends CodedError<'TOKEN_SIGNING'> {
  constructor(message: string) {
    super('TOKEN_SIGNING', message);
  }
}

/** `90`, `90s`, `30m`, `12h`, `7d` → seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_TOKEN_TTL_SECONDS) {
    throw new TokenSigningError(`--ttl ${JSON.stringify(text)} must be a duration from 1s to 366d, such as 3600, 30m, 12h or 7d`);
  }
  return seconds;
}

/** Signs tokens the server's TokenVerifier accepts when it is configured with the matching key. */
export class TokenSigner {
  readonly #key: Uint8Array | KeyObject;
  readonly #algorithm: 'HS256' | 'RS256' | 'ES256';

  private constructor(key: Uint8Array | KeyObject, algorithm: 'HS256' | 'RS256' | 'ES256') {
    this.#key = key;
    this.#algorithm = algorithm;
  }

  static fromConfig(config: SigningKeyConfig): TokenSigner {
    if (config.kind === 'secret') {
      const secret = new TextEncoder().encode(config.secret);
      if (secret.length < MIN_SECRET_BYTES) {
        throw new TokenSigningError(`the JWT secret must be at least ${MIN_SECRET_BYTES} bytes long; generate one with: openssl rand -hex 32`);
      }
      return new TokenSigner(secret, 'HS256');
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(config.pem);
    } catch (err) {
      throw new TokenSigningError(`the JWT private key is not a PEM private key: ${(err as Error).message}`);
    }
    const type = key.asymmetricKeyType;
    if ((config.algorithm === 'RS256' && type !== 'rsa') || (config.algorithm === 'ES256' && type !== 'ec')) {
      throw new TokenSigningError(`the private key is ${type}, which cannot sign ${config.algorithm}; give --jwt-algorithm ${type === 'ec' ? 'ES256' : 'RS256'}`);
    }
    return new TokenSigner(key, config.algorithm);
  }

  async sign(claims: TokenClaims): Promise<string> {
    if (claims.sub.trim() === '') throw new TokenSigningError('the subject (--sub) must not be empty: the server audits every session by it');
    const jwt = new SignJWT({ ...(claims.instances ? { instances: claims.instances } : {}), ...(claims.observe ? { [OBSERVE_CLAIM]: claims.observe } : {}) })
      .setProtectedHeader({ alg: this.#algorithm, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + claims.ttlSeconds);
    if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
    if (claims.aud !== undefined) jwt.setAudience(claims.aud);
    return jwt.sign(this.#key);
  }
}

/** Signs an HS256 token (development tokens and tests; a negative lifetime makes an expired one). */
export function signDevelopmentToken(
  secret: string,
  claims: { sub: string; instances?: string[]; observe?: string[]; iss?: string; aud?: string },
  ttlSeconds = 30 * 86400,
): Promise<string> {
  return TokenSigner.fromConfig({ kind: 'secret', secret }).sign({ ...claims, ttlSeconds });
}
