// Issue 10 §4: the edge bus user file (`edgetwin edge --auth FILE`): hashes only, and each mistake named
// with the file and the entry, before anything starts.
import { describe, expect, it } from 'vitest';
import { parseEdgeBusUsers } from '../src/edge-bus-users.js';
import { hashPassword, parsePasswordHash, verifyPassword } from '../src/password-hash.js';

const HASH =
  '$7$101$2A/TWZcKz8CjNt5C$Y0Y+nAdFdRAuAjrDuYjiiKNGUwyO0OeGVcoWQk6RdK25rILi0WbaRQaT5MmHNIjn2rX0g63kBn1M1QigusB1Iw==';
const file = (entries: string) => `users:\n${entries}`;

describe('edge bus user file', () => {
  it('reads names, hashes and namespaces', async () => {
    const users = parseEdgeBusUsers(file(`  - name: app\n    password: "${HASH}"\n    namespaces: [line-a, "*"]\n`));
    expect([...users.get('app')!.namespaces]).toEqual(['line-a', '*']);
    expect(await verifyPassword(users.get('app')!.password, 's3cret')).toBe(true);
    expect(await verifyPassword(users.get('app')!.password, 's3cret ')).toBe(false);
  });

  it.each([
    [
      'plain-text password',
      `  - {name: app, password: s3cret, namespaces: [a]}\n`,
      /users\[0\]\.password: not a hashed password.*plain-text passwords are not accepted/,
    ],
    [
      'no namespaces',
      `  - {name: app, password: "${HASH}", namespaces: []}\n`,
      /users\[0\]\.namespaces: a non-empty list/,
    ],
    [
      'a bad namespace',
      `  - {name: app, password: "${HASH}", namespaces: ["line-a/#"]}\n`,
      /"line-a\/#" is not a namespace name/,
    ],
    [
      'the reserved service user',
      `  - {name: edgetwin-service, password: "${HASH}", namespaces: [a]}\n`,
      /users\[0\]\.name: edgetwin-service is the twin's/,
    ],
    [
      'a wildcard in a name',
      `  - {name: "a+b", password: "${HASH}", namespaces: [a]}\n`,
      /users\[0\]\.name: a user name of letters/,
    ],
    [
      'a user twice',
      `  - {name: a, password: "${HASH}", namespaces: [a]}\n  - {name: a, password: "${HASH}", namespaces: [a]}\n`,
      /users\[1\]\.name: user a is listed twice/,
    ],
    [
      'an unknown key',
      `  - {name: a, password: "${HASH}", namespaces: [a], topics: [x]}\n`,
      /users\[0\]\.topics: unknown key/,
    ],
    [
      'a broken hash',
      `  - {name: a, password: "$7$101$abc", namespaces: [a]}\n`,
      /users\[0\]\.password: a \$7\$ hash has the form/,
    ],
    [
      'an absurd iteration count',
      `  - {name: a, password: "$7$99999999$2A/TWZcKz8CjNt5C$${HASH.split('$')[4]}", namespaces: [a]}\n`,
      /iteration count/,
    ],
  ])('refuses %s, naming file and entry', (_what, entries, message) => {
    expect(() => parseEdgeBusUsers(file(entries), 'edge-users.yaml')).toThrow(/^edge-users\.yaml: /);
    expect(() => parseEdgeBusUsers(file(entries), 'edge-users.yaml')).toThrow(message);
  });

  it('refuses a file without a users list, and names of prototype properties stay plain names', () => {
    expect(() => parseEdgeBusUsers('apps: []\n', 'f.yaml')).toThrow(
      /f\.yaml: users: expected a top-level `users:` list/,
    );
    const users = parseEdgeBusUsers(file(`  - {name: constructor, password: "${HASH}", namespaces: [a]}\n`));
    expect(users.get('toString')).toBeUndefined();
    expect(users.get('__proto__')).toBeUndefined();
    expect(users.get('constructor')?.name).toBe('constructor');
  });

  it('hashPassword writes a $7$ hash with a fresh salt that verifies', async () => {
    const [h1, h2] = [await hashPassword('pw', 1000), await hashPassword('pw', 1000)];
    expect(h1).toMatch(/^\$7\$1000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(h1).not.toBe(h2);
    expect(await verifyPassword(parsePasswordHash(h1), 'pw')).toBe(true);
    expect(await verifyPassword(parsePasswordHash(h1), 'pW')).toBe(false);
  });
});
