/**
 * Development credentials for `npm start`: an HS256 secret generated once and kept in the
 * data directory (so tokens survive restarts), and a ready token written beside it.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { signDevelopmentToken } from '../server/TokenSigner.js';

export const DEV_TOKEN_SUBJECT = 'developer';

/** The secret in `path`, generated (32 random bytes, hex) if the file does not exist. */
export async function ensureJwtSecret(path: string): Promise<string> {
  const existing = await readFile(path, 'utf8').then((s) => s.trim(), () => undefined);
  if (existing) return existing;
  const secret = randomBytes(32).toString('hex');
  // Written aside and renamed: a crash never leaves an empty secret behind.
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, `${secret}\n`, { mode: 0o600 });
  await rename(temporary, path);
  return secret;
}

/** Signs a token for any instance (subject `developer`, 30 days) and writes it to `path`. */
export async function writeDevToken(path: string, secret: string): Promise<string> {
  const token = await signDevelopmentToken(secret, { sub: DEV_TOKEN_SUBJECT }, 30 * 86400);
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return token;
}
