/**
 * The listen() backlog of every listener we open (agent, mux, helper reports). Node's default
 * of 511 made a burst of 1,000 sessions fail: a Unix socket connect() past a full backlog fails
 * at once with EAGAIN rather than waiting. The kernel caps it at net.core.somaxconn (4096 on
 * Debian 12).
 */
export const LISTEN_BACKLOG = 4096;
