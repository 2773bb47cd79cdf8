// The rejoin loop of docs/continuity.md: wait the policy's delay (cut short when the
// browser is online again), try, and go on until joined, refused for good, or past the
// node's grace period. No DOM: the session passes in how to wait, try and whether to go on.

import { FINAL_JOIN_ERRORS } from './continuity.js';
import { SignallingError } from './signalling.js';

/**
 * Resolves to 'joined'; 'stopped' once `going()` is false (before or during an attempt);
 * 'late' when an attempt succeeded after that (its connection is to be closed); 'lost'
 * after the policy's give-up time; or a final join error code (FINAL_JOIN_ERRORS).
 */
export async function retryJoin({ policy, wait, attempt, going }) {
  const started = performance.now();
  for (let n = 0; ; n += 1) {
    const delay = policy.nextRetryDelay(n, performance.now() - started, Math.random());
    if (delay === null) return 'lost';
    await wait(delay);
    if (!going()) return 'stopped';
    try {
      await attempt();
    } catch (error) {
      if (!going()) return 'stopped';
      if (error instanceof SignallingError && FINAL_JOIN_ERRORS.has(error.code)) return error.code;
      continue;
    }
    return going() ? 'joined' : 'late';
  }
}
