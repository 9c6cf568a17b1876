// Secrets at rest (issue 10 §5, docs/security.md): every token, password and private key edgetwin
// generates or is given lives in a file readable by its owner only, never on a command line. One home for
// creating, reading and comparing them, used by the controller, the cloud link and the edge.
// Not exported from the package index: it needs node:fs and node:crypto.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class SecretFileError extends Error {
  constructor(
    readonly code: 'SECRET_FILE_UNREADABLE' | 'SECRET_FILE_EMPTY' | 'SECRET_FILE_TOO_OPEN',
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'SecretFileError';
  }
}

/** A fresh random secret: 32 bytes, base64url (43 characters, no padding). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes a secret atomically with mode 0600 (its folder created 0700 if missing). */
export function writeSecretFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * Reads a secret file (trimmed). Refuses an empty file, and one that any user may read: a secret anyone
 * on the machine can read is no secret (as ssh refuses a private key with mode 0644). Group read is
 * allowed, because Kubernetes mounts Secrets group-readable for the pod's fsGroup.
 */
export function readSecretFile(path: string, what = 'secret'): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SecretFileError('SECRET_FILE_UNREADABLE', path, `cannot read the ${what}: ${(e as Error).message}`);
  }
  if (process.platform !== 'win32' && (statSync(path).mode & 0o007) !== 0)
    throw new SecretFileError(
      'SECRET_FILE_TOO_OPEN',
      path,
      `the ${what} is readable by other users (mode ${(statSync(path).mode & 0o777).toString(8)}); run chmod 600 ${path}`,
    );
  const secret = text.trim();
  if (secret === '') throw new SecretFileError('SECRET_FILE_EMPTY', path, `the ${what} file is empty`);
  return secret;
}

/** The secret in `path`, created with a fresh random value on first use. */
export function loadOrCreateSecret(path: string, what = 'secret'): { secret: string; created: boolean } {
  if (existsSync(path)) return { secret: readSecretFile(path, what), created: false };
  const secret = newSecret();
  writeSecretFile(path, `${secret}\n`);
  return { secret, created: true };
}

/** Constant-time comparison of two secrets of any length (both are hashed first). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
