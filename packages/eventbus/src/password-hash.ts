// Hashed passwords in Mosquitto's password-file format (issue 10 §4, docs/security.md), so one hash serves
// the embedded edge broker and a Mosquitto: `$7$<iterations>$<salt>$<hash>` is PBKDF2-HMAC-SHA512 (what
// `mosquitto_passwd` writes by default), `$6$<salt>$<hash>` is SHA-512 of password then salt (Mosquitto
// 1.6 and earlier). Salt and hash are base64. Only node:crypto (OpenSSL) computes them.
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';

/** Iterations `hashPassword` uses; Mosquitto 2.0's default (101) is cheap to attack offline. */
export const DEFAULT_PBKDF2_ITERATIONS = 20_000;
/** A hash asking for more would let one line of a user file cost seconds of CPU per login attempt. */
const MAX_PBKDF2_ITERATIONS = 1_000_000;

export type PasswordHash =
  | { kind: 'pbkdf2-sha512'; iterations: number; salt: Buffer; hash: Buffer }
  | { kind: 'sha512'; salt: Buffer; hash: Buffer };

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses a `$7$...` or `$6$...` hash; throws an Error saying what is wrong with it (not the hash itself). */
export function parsePasswordHash(text: string): PasswordHash {
  const parts = text.split('$');
  if (parts[0] !== '' || (parts[1] !== '7' && parts[1] !== '6'))
    throw new Error(
      'not a hashed password: expected $7$... (PBKDF2-SHA512, as mosquitto_passwd or `edgetwin passwd` writes it)',
    );
  const b64 = (s: string | undefined, what: string) => {
    if (!s || !B64.test(s)) throw new Error(`the ${what} of the hash is not base64`);
    return Buffer.from(s, 'base64');
  };
  if (parts[1] === '6') {
    if (parts.length !== 4) throw new Error('a $6$ hash has the form $6$<salt>$<hash>');
    return { kind: 'sha512', salt: b64(parts[2], 'salt'), hash: b64(parts[3], 'hash') };
  }
  if (parts.length !== 5) throw new Error('a $7$ hash has the form $7$<iterations>$<salt>$<hash>');
  const iterations = Number(parts[2]);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS)
    throw new Error(`the iteration count of the hash must be 1..${MAX_PBKDF2_ITERATIONS}`);
  const hash = b64(parts[4], 'hash');
  if (hash.length !== 64) throw new Error('a $7$ hash must hold 64 bytes (SHA-512)');
  return { kind: 'pbkdf2-sha512', iterations, salt: b64(parts[3], 'salt'), hash };
}

/** A `$7$` hash of `password` with a fresh 12-byte salt (Mosquitto's salt length). */
export async function hashPassword(password: string, iterations = DEFAULT_PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(12);
  const hash = await derive(password, salt, iterations);
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Whether `password` matches; constant time in the comparison, PBKDF2 off the event loop. */
export async function verifyPassword(h: PasswordHash, password: string | Buffer): Promise<boolean> {
  const computed =
    h.kind === 'sha512'
      ? createHash('sha512').update(password).update(h.salt).digest()
      : await derive(password, h.salt, h.iterations);
  return computed.length === h.hash.length && timingSafeEqual(computed, h.hash);
}

function derive(password: string | Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(password, salt, iterations, 64, 'sha512', (err, key) => (err ? reject(err) : resolve(key))),
  );
}
