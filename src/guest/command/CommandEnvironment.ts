/** PATH of a command whose request and configuration set none (spec §9.2). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** TERM of a TTY session whose request and configuration set none (spec §9.2). */
export const DEFAULT_TERM = 'xterm-256color';

/**
 * The command's environment (spec §9.2): the agent's defaults, then the environment the
 * agent was configured with (the container's, `--env`), then the request's entries, each
 * layer over the one before. Nothing of the agent's own process environment leaks in.
 */
export function commandEnvironment(
  home: string,
  tty: boolean,
  configured: Readonly<Record<string, string>>,
  requested: Readonly<Record<string, string>>,
): Record<string, string> {
  // No prototype: a variable named __proto__ is a variable like any other.
  const env = Object.create(null) as Record<string, string>;
  env.PATH = DEFAULT_PATH;
  env.HOME = home;
  if (tty) env.TERM = DEFAULT_TERM;
  Object.assign(env, configured, requested);
  return env;
}
