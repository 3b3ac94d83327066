import { readFile } from 'node:fs/promises';
import yargs from 'yargs';
import { type SigningKeyConfig, TokenSigner, TokenSigningError, parseTtl } from './TokenSigner.js';

const USAGE = `Usage: hypeman-exec-server token --sub NAME [options]

Mints a bearer token this server accepts, signed with its key, and prints it on stdout:
  export HYPEMAN_TOKEN=$(hypeman-exec-server token --sub alice --instances web-1 --ttl 8h)
  hypeman-exec-server token --sub oncall --observe '*'     # may watch anyone's sessions, read-only
The key comes from the same flags and environment as the server's (HS256 secret), or from
the private half of its RS256/ES256 key. Tokens from an identity provider need no minting:
start the server with the provider's public key, issuer and audience instead.`;

const ENVIRONMENT = `Environment, as the server reads it: HYPEMAN_JWT_SECRET, HYPEMAN_JWT_SECRET_FILE,
HYPEMAN_JWT_PRIVATE_KEY, HYPEMAN_JWT_ALGORITHM, HYPEMAN_JWT_ISSUER, HYPEMAN_JWT_AUDIENCE.
Flags win.`;

/** `hypeman-exec-server token …`: returns the exit status. */
export async function runTokenCommand(argv: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let printed = false;
  let args;
  try {
    args = await yargs(argv)
      .scriptName('hypeman-exec-server token')
      .usage(USAGE)
      .option('sub', { type: 'string', demandOption: 'give --sub NAME: the subject the server audits the sessions under', description: 'who the token is for (audited as the session subject)' })
      .option('instances', { type: 'string', description: 'instance ids or names it may use, comma-separated (default: every instance)' })
      .option('observe', {
        type: 'string',
        description: "instance ids or names (comma-separated, or '*' for every instance it may use) where it may also watch other subjects' sessions, read-only (the observe claim); default: only its own",
      })
      .option('ttl', { type: 'string', default: '1h', description: 'lifetime: seconds, or 30m, 12h, 7d (at most 366d)' })
      .option('iss', { type: 'string', default: env.HYPEMAN_JWT_ISSUER, description: 'issuer claim (default: HYPEMAN_JWT_ISSUER, as the server requires)' })
      .option('aud', { type: 'string', default: env.HYPEMAN_JWT_AUDIENCE, description: 'audience claim (default: HYPEMAN_JWT_AUDIENCE)' })
      .option('jwt-secret', { type: 'string', default: env.HYPEMAN_JWT_SECRET, description: 'the server\'s HS256 secret' })
      .option('jwt-secret-file', { type: 'string', default: env.HYPEMAN_JWT_SECRET_FILE, description: 'file holding it (npm start keeps one in .hypeman/jwt-secret)' })
      .option('jwt-private-key', { type: 'string', default: env.HYPEMAN_JWT_PRIVATE_KEY, description: 'PEM private key file, for a server verifying RS256/ES256 with its public half' })
      .option('jwt-algorithm', { choices: ['RS256', 'ES256'] as const, default: (env.HYPEMAN_JWT_ALGORITHM as 'RS256' | 'ES256') || 'RS256', description: 'algorithm of --jwt-private-key' })
      .epilogue(ENVIRONMENT)
      .wrap(null)
      .version(false)
      .help()
      .strict()
      .exitProcess(false)
      .fail((msg, e) => {
        throw e ?? new TokenSigningError(msg);
      })
      .parseAsync(argv, {}, (e, _a, output) => {
        if (!e && output) {
          out.write(`${output}\n`);
          printed = true;
        }
      });
    if (printed) return 0;
    const ttlSeconds = parseTtl(args.ttl);
    let key: SigningKeyConfig;
    if (args.jwtPrivateKey) key = { kind: 'private-key', pem: await readKey(args.jwtPrivateKey), algorithm: args.jwtAlgorithm };
    else if (args.jwtSecretFile) key = { kind: 'secret', secret: (await readKey(args.jwtSecretFile)).trim() };
    else if (args.jwtSecret) key = { kind: 'secret', secret: args.jwtSecret };
    else throw new TokenSigningError('no key to sign with: give --jwt-secret-file (or HYPEMAN_JWT_SECRET), or --jwt-private-key');
    const list = (value: string | undefined) => value?.split(',').map((i) => i.trim()).filter(Boolean);
    const instances = list(args.instances);
    const observe = list(args.observe);
    const token = await TokenSigner.fromConfig(key).sign({
      sub: args.sub,
      ttlSeconds,
      ...(instances && instances.length > 0 ? { instances } : {}),
      ...(observe && observe.length > 0 ? { observe } : {}),
      ...(args.iss ? { iss: args.iss } : {}),
      ...(args.aud ? { aud: args.aud } : {}),
    });
    out.write(`${token}\n`);
    const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    const watching = observe?.length ? `, observing others on ${observe.join(', ')}` : '';
    err.write(`hypeman-exec-server: a token for ${JSON.stringify(args.sub)}, ${instances?.length ? `instances ${instances.join(', ')}` : 'every instance'}${watching}, expires ${expires}\n`);
    return 0;
  } catch (e) {
    err.write(`hypeman-exec-server token: ${(e as Error).message}\n`);
    return 1;
  }
}

async function readKey(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new TokenSigningError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
