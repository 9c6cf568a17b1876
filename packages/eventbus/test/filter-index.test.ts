import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterIndex } from '../src/filter-index.js';
import { topicMatches } from '../src/topic-match.js';

const level = fc.constantFrom('a', 'b', '$hw', '', 'x1');
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const filterLevel = fc.constantFrom('a', 'b', '$hw', '', '+');
const filter = fc
  .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean())
  .map(([l, hash, shared]) => (shared ? '$share/g/' : '') + (hash ? [...l, '#'] : l).join('/'));

describe('FilterIndex', () => {
  it('finds exactly the filters topicMatches accepts', () => {
    fc.assert(
      fc.property(fc.uniqueArray(filter, { maxLength: 12 }), topic, (filters, t) => {
        const index = new FilterIndex<string>();
        for (const f of filters) index.set(f, f);
        const found = index
          .matching(t)
          .map(([f]) => f)
          .sort();
        const expected = filters.filter((f) => topicMatches(f, t)).sort();
        expect(found).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('forgets deleted filters', () => {
    const index = new FilterIndex<number>();
    index.set('a/b', 1);
    index.set('a/+', 2);
    index.delete('a/b');
    expect(index.matching('a/b')).toEqual([['a/+', 2]]);
    index.delete('a/+');
    expect(index.matching('a/b')).toEqual([]);
    expect(index.size).toBe(0);
  });
});
