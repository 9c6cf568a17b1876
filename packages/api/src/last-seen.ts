// When a device was last heard from (issue 16 §2): its newest reported value or its last state report,
// whichever is later. One meaning for `get`, `describe`, the live view of `up` and the web console; free of
// Node imports, so the console's bundle uses it too.
import type { Device } from './types.js';

export function lastSeen(d: Device): string | undefined {
  let best = d.status?.lastOnlineTime ? Date.parse(d.status.lastOnlineTime) : Number.NaN;
  for (const t of d.status?.twins ?? []) {
    const at = Number(t.reported?.metadata?.timestamp);
    if (Number.isFinite(at) && !(at <= best)) best = at;
  }
  return Number.isFinite(best) ? new Date(best).toISOString() : undefined;
}
