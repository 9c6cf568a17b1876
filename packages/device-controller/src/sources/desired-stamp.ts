// The stamp on a cloud desired write (docs/twin.md, "who wins"). Every `twin set` (POST .../desired) writes
// desired.metadata.timestamp = now in ms, so a write of the value already there is still a spec change that
// flows down, and the edge twin treats the new stamp as a new command that overrides an edge-local desired
// value. The key is KubeEdge's own (its mappers read desired.metadata.timestamp), so nothing new for them.

import type { Device, TwinProperty } from '@edgetwin/api';

export const DESIRED_STAMP_KEY = 'timestamp';

/**
 * The desired property after a write of `value`: other metadata kept, timestamp set to now in ms, and always
 * later than the stamp it replaces (two writes in the same millisecond must still differ).
 */
export function stampDesired(prev: TwinProperty | undefined, value: string, now = Date.now()): TwinProperty {
  const before = Number(prev?.metadata?.[DESIRED_STAMP_KEY]);
  const stamp = Number.isSafeInteger(before) && before >= now ? before + 1 : now;
  return { ...(prev ?? {}), value, metadata: { ...(prev?.metadata ?? {}), [DESIRED_STAMP_KEY]: String(stamp) } };
}

/**
 * `input` with the stored stamps of properties whose desired value it repeats without a stamp of its own.
 * Returns `input` itself when there is nothing to keep.
 */
export function keepStamps(stored: Device, input: Device): Device {
  const storedProps = new Map((stored.spec?.properties ?? []).map((p) => [p.name, p.desired]));
  let out: Device | undefined;
  for (const [i, p] of (input.spec?.properties ?? []).entries()) {
    const was = storedProps.get(p.name);
    const stamp = was?.metadata?.[DESIRED_STAMP_KEY];
    if (stamp === undefined || !p.desired || p.desired.value !== was?.value) continue;
    if (p.desired.metadata?.[DESIRED_STAMP_KEY] !== undefined) continue;
    out ??= structuredClone(input);
    const desired = out.spec.properties![i]!.desired!;
    desired.metadata = { ...(desired.metadata ?? {}), [DESIRED_STAMP_KEY]: stamp };
  }
  return out ?? input;
}
