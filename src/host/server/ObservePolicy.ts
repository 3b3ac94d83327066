import type { Principal } from './TokenVerifier.js';

/**
 * Who may observe a session (spec §10.11, README "Security model"): its owner (the subject
 * that started it), or a token whose `observe` claim names the instance, by id or name, or
 * holds "*" (every instance the token may use). The claim lets a subject watch other
 * subjects' sessions; it grants no input to them, and no instance the token's `instances`
 * claim does not already allow. The one place this rule lives: the exec relay asks it for
 * an observer attach (the agent checks the owner, and the server's grant for others), and
 * so does anything else that shows a session's output.
 */

/** The JWT claim: an array of instance ids or names, or "*". */
export const OBSERVE_CLAIM = 'observe';

/** An instance as the rule sees it. */
export interface ObservedInstance {
  id: string;
  name: string;
}

/** Whether the principal may observe sessions on `instance` that other subjects own. */
export function mayObserveOthers(principal: Principal, instance: ObservedInstance): boolean {
  const allowed = principal.observe;
  return allowed !== undefined && (allowed.includes('*') || allowed.includes(instance.id) || allowed.includes(instance.name));
}

/** Whether the principal may observe a session owned by `owner` on `instance`. */
export function mayObserve(principal: Principal, instance: ObservedInstance, owner: string): boolean {
  return owner === principal.subject || mayObserveOthers(principal, instance);
}
