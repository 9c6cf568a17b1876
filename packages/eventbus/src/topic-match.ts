// MQTT topic filter matching (MQTT 3.1.1 section 4.7), used to route a message to the handlers
// of the filters it matches, because one connection carries many subscriptions.

const SHARED_PREFIX = '$share/';

/** The filter a broker matches for a subscription: `$share/<group>/<filter>` matches like `<filter>`. */
export function effectiveFilter(filter: string): string {
  if (!filter.startsWith(SHARED_PREFIX)) return filter;
  const groupEnd = filter.indexOf('/', SHARED_PREFIX.length);
  return groupEnd < 0 ? filter : filter.slice(groupEnd + 1);
}

/**
 * True if `topic` (a concrete topic name) matches `filter`. `+` matches exactly one level, `#` the
 * rest (including the parent level itself: `a/#` matches `a`). A filter whose first level is a wildcard
 * does not match a topic starting with `$` (MQTT-4.7.2-1), so `#` never sees `$hw/...` or `$SYS/...`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = effectiveFilter(filter);
  if (topic.startsWith('$') && (f.startsWith('+') || f.startsWith('#'))) return false;
  const fl = f.split('/');
  const tl = topic.split('/');
  for (let i = 0; i < fl.length; i++) {
    const level = fl[i];
    if (level === '#') return i === fl.length - 1;
    if (i >= tl.length) return false;
    if (level !== '+' && level !== tl[i]) return false;
  }
  return fl.length === tl.length;
}

/** Why `filter` is not a valid MQTT topic filter, or undefined if it is. */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'topic filter is empty';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return `'#' must be a whole level and the last one (level ${i + 1} is '${level}')`;
    }
    if (level.includes('+') && level !== '+') return `'+' must be a whole level (level ${i + 1} is '${level}')`;
  }
  return undefined;
}

/** Why `topic` is not a valid topic name to publish on, or undefined if it is. */
export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'topic is empty';
  if (topic.includes('+') || topic.includes('#')) return `wildcards '+' and '#' are not allowed in a topic name`;
  return undefined;
}
