// Issue 10: user names that are also properties of every JavaScript object (`__proto__`, `constructor`,
// `toString`, ...) are plain names in a password table: an unknown one never authenticates, and one that the
// password file does list logs in with its own password only.
import { connectBus } from '../src/index.js';
import { parsePasswordFile } from '../src/acl-file.js';
import { describe, expect, it } from 'vitest';
import { broker, client, useCleanup } from './helpers.js';

useCleanup();

const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
const GUESSES = ['', 'undefined', '[object Object]', 'function Object() { [native code] }'];

describe('the broker users table', () => {
  it('refuses inherited property names with any password, and still accepts its real user', async () => {
    const b = await broker({ users: parsePasswordFile('app:a-secret\n', 'pw') });
    for (const username of PROTO_NAMES)
      for (const password of GUESSES)
        await expect(
          connectBus({ url: b.url, username, password, connectTimeoutMs: 3000 }),
          `${username}/${password}`,
        ).rejects.toThrow(/refused the credentials/);
    expect((await client(b.url, { username: 'app', password: 'a-secret' })).connected).toBe(true);
  });

  it('keeps a listed __proto__ or constructor user as a plain entry with its own password', async () => {
    const users = parsePasswordFile('__proto__:p-secret\nconstructor:c-secret\n', 'pw');
    expect(Object.keys(users).sort()).toEqual(['__proto__', 'constructor']);
    const b = await broker({ users });
    expect((await client(b.url, { username: '__proto__', password: 'p-secret' })).connected).toBe(true);
    expect((await client(b.url, { username: 'constructor', password: 'c-secret' })).connected).toBe(true);
    await expect(
      connectBus({ url: b.url, username: '__proto__', password: 'c-secret', connectTimeoutMs: 3000 }),
    ).rejects.toThrow(/refused the credentials/);
  });
});
