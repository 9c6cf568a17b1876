import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aclAuth, filterCovers, parseAclFile, parsePasswordFile } from '../src/acl-file.js';
import { topicMatches } from '../src/topic-match.js';
import { collectMessages } from '../src/testing.js';
import { broker, client, useCleanup } from './helpers.js';

useCleanup();

const ACL = `
# anonymous clients may read the demo topics
topic read demo/#

user mapper
topic write $hw/events/device/+/+/twin/update
topic readwrite edgetwin/v1/nodes/node1/#

user app
topic read $hw/events/device/#

# every client may use its own inbox
pattern readwrite inbox/%c/#
`;

describe('parseAclFile', () => {
  it('reads users, topics with access, patterns and anonymous rules', () => {
    const acl = parseAclFile(ACL);
    expect(acl.users.get('')).toEqual([{ access: 'read', filter: 'demo/#' }]);
    expect(acl.users.get('mapper')).toHaveLength(2);
    expect(acl.patterns).toEqual([{ access: 'readwrite', filter: 'inbox/%c/#' }]);
  });

  it('names the file and line of what it cannot read', () => {
    expect(() => parseAclFile('user a\ntopic read x\nallow everything\n', '/etc/edgetwin/acl')).toThrow(
      "/etc/edgetwin/acl:3: unknown keyword 'allow' (expected user, topic or pattern)",
    );
    expect(() => parseAclFile('topic read\n', 'acl')).toThrow("acl:1: 'topic' needs a topic filter");
    expect(() => parseAclFile('topic deny a/b\n', 'acl')).toThrow("acl:1: 'topic deny' is not supported");
  });
});

describe('parsePasswordFile', () => {
  it('reads user:password lines and refuses hashed ones with the line', () => {
    expect(parsePasswordFile('# c\nalice:s3cr:et\nbob:x\n')).toEqual({ alice: 's3cr:et', bob: 'x' });
    expect(() => parsePasswordFile('alice:$7$101$abc\n', 'pw')).toThrow('pw:1: hashed passwords');
    expect(() => parsePasswordFile('nocolon\n', 'pw')).toThrow('pw:1: expected user:password');
  });
});

describe('aclAuth', () => {
  const auth = aclAuth(parseAclFile(ACL));
  const mapper = { id: 'm1', username: 'mapper' };
  const app = { id: 'a1', username: 'app' };
  const anon = { id: 'x1' };

  it('allows publishing only on topics a write rule matches', () => {
    expect(auth.authorizePublish(mapper, '$hw/events/device/default/led/twin/update')).toBe(true);
    expect(auth.authorizePublish(mapper, '$hw/events/device/default/led/twin/update/delta')).toBe(false);
    expect(auth.authorizePublish(app, '$hw/events/device/default/led/twin/update')).toBe(false);
    expect(auth.authorizePublish(anon, 'demo/x')).toBe(false);
    expect(auth.authorizePublish(anon, 'inbox/x1/hello')).toBe(true);
    expect(auth.authorizePublish(anon, 'inbox/other/hello')).toBe(false);
  });

  it('allows subscribing only to filters a read rule covers entirely', () => {
    expect(auth.authorizeSubscribe(app, '$hw/events/device/+/+/twin/update')).toBe(true);
    expect(auth.authorizeSubscribe(app, '#')).toBe(false);
    expect(auth.authorizeSubscribe(mapper, '$hw/events/device/+/+/twin/update')).toBe(false);
    expect(auth.authorizeSubscribe(mapper, 'edgetwin/v1/nodes/node1/mappers/modbus/devices/+/+')).toBe(true);
    expect(auth.authorizeSubscribe(mapper, 'edgetwin/v1/nodes/+/mappers/#')).toBe(false);
    expect(auth.authorizeSubscribe(anon, 'demo/#')).toBe(true);
  });

  it('is enforced by the embedded broker', async () => {
    const b = await broker({ users: { mapper: 'm', app: 'a' }, auth: auth });
    const m = await client(b.url, { username: 'mapper', password: 'm', clientId: 'm1' });
    const a = await client(b.url, { username: 'app', password: 'a', clientId: 'a1' });
    const got = await collectMessages(a, '$hw/events/device/+/+/twin/update');
    await expect(a.subscribe('#', () => {})).rejects.toThrow("refused the subscription to '#'");
    await a.publish('$hw/events/device/d/x/twin/update', 'forged by the app');
    await m.publish('$hw/events/device/d/x/twin/update', 'from the mapper');
    await got.waitFor(1, 3000);
    expect(got.messages.map((x) => x.payload.toString())).toEqual(['from the mapper']);
  });
});

describe('filterCovers', () => {
  it.each([
    ['a/#', 'a/b/c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/#', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/b', 'a/+', false],
    ['#', 'x/#', true],
    ['#', '$SYS/#', false],
    ['+/b', '$x/b', false],
    ['a/+/c', 'a/+/c', true],
    ['a/+/c', 'a/+/d', false],
    ['a/b', 'a/b/c', false],
  ])('%s covers %s: %s', (rule, filter, expected) => {
    expect(filterCovers(rule, filter)).toBe(expected);
  });

  const level = fc.constantFrom('a', 'b', '$x');
  const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
  const filt = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', '$x', '+'), { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'));

  it('never lets a covered filter match a topic the rule does not', () => {
    fc.assert(
      fc.property(filt, filt, topic, (rule, filter, t) => {
        if (filterCovers(rule, filter) && topicMatches(filter, t)) expect(topicMatches(rule, t)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
