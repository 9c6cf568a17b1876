import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filterProblem, topicMatches } from '../src/topic-match.js';

describe('topicMatches', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/+', 'a', false],
    ['a/+', 'a/', true],
    ['+/+', '/x', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['#', '/', true],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    // MQTT-4.7.2-1: leading wildcards do not match $ topics, explicit $ filters do
    ['#', '$SYS/broker', false],
    ['+/events/device/x/twin/update', '$hw/events/device/x/twin/update', false],
    ['$hw/events/device/+/+/twin/update', '$hw/events/device/default/led/twin/update', true],
    ['$hw/#', '$hw/events/upload', true],
    ['a/#', 'a/$b', true],
    // shared subscriptions match like their inner filter
    ['$share/ctl/edgetwin/cloud/+/report', 'edgetwin/cloud/n1/report', true],
    ['$share/ctl/#', 'x/y', true],
  ])('%s vs %s -> %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  const level = fc.stringMatching(/^[a-z0-9]{0,3}$/);
  const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));

  it('a topic matches itself, # and the filter with any one level replaced by +', () => {
    fc.assert(
      fc.property(topic, fc.nat(), (t, i) => {
        const levels = t.split('/');
        const k = i % levels.length;
        const withPlus = levels.map((l, j) => (j === k ? '+' : l)).join('/');
        const withHash = [...levels.slice(0, k), '#'].join('/');
        return topicMatches(t, t) && topicMatches('#', t) && topicMatches(withPlus, t) && topicMatches(withHash, t);
      }),
    );
  });

  it('a filter without wildcards matches only the identical topic', () => {
    fc.assert(fc.property(topic, topic, (a, b) => topicMatches(a, b) === (a === b)));
  });
});

describe('filterProblem', () => {
  it('accepts valid filters and explains invalid ones', () => {
    expect(filterProblem('a/+/#')).toBeUndefined();
    expect(filterProblem('#')).toBeUndefined();
    expect(filterProblem('')).toBe('topic filter is empty');
    expect(filterProblem('a/#/b')).toMatch(/'#' must be a whole level and the last one \(level 2/);
    expect(filterProblem('a#')).toMatch(/'#' must be/);
    expect(filterProblem('a/x+')).toMatch(/'\+' must be a whole level \(level 2 is 'x\+'\)/);
  });
});
