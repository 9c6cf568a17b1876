// Subscriptions of one connection, keyed by filter, answering "which filters match this topic" without
// re-parsing every filter per message: exact filters are one map lookup, wildcard filters are pre-split.
import { effectiveFilter } from './topic-match.js';

interface WildEntry<T> {
  levels: string[];
  value: T;
}

function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

function levelsMatch(levels: string[], topicLevels: string[], dollarTopic: boolean): boolean {
  const first = levels[0];
  if (dollarTopic && (first === '+' || first === '#')) return false;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return levels.length === topicLevels.length;
}

export class FilterIndex<T> {
  private readonly all = new Map<string, T>();
  private readonly exact = new Map<string, T>();
  private readonly wild = new Map<string, WildEntry<T>>();

  get size(): number {
    return this.all.size;
  }

  get(filter: string): T | undefined {
    return this.all.get(filter);
  }

  set(filter: string, value: T): void {
    this.all.set(filter, value);
    // Shared subscriptions ($share/group/...) deliver under the inner topic, so they are matched by pattern.
    if (!hasWildcard(filter) && !filter.startsWith('$share/')) this.exact.set(filter, value);
    else this.wild.set(filter, { levels: effectiveFilter(filter).split('/'), value });
  }

  delete(filter: string): boolean {
    this.exact.delete(filter);
    this.wild.delete(filter);
    return this.all.delete(filter);
  }

  entries(): IterableIterator<[string, T]> {
    return this.all.entries();
  }

  values(): IterableIterator<T> {
    return this.all.values();
  }

  /** every [filter, value] whose filter matches `topic` (MQTT 3.1.1 rules, see topicMatches); a fresh array */
  matching(topic: string): Array<[string, T]> {
    const found: Array<[string, T]> = [];
    const exact = this.exact.get(topic);
    if (exact !== undefined) found.push([topic, exact]);
    if (this.wild.size === 0) return found;
    const topicLevels = topic.split('/');
    const dollar = topic.startsWith('$');
    for (const [filter, entry] of this.wild) {
      if (levelsMatch(entry.levels, topicLevels, dollar)) found.push([filter, entry.value]);
    }
    return found;
  }
}
