// The users of an edge bus opened to a LAN (`edgetwin edge --auth FILE`, issue 10 §4, docs/security.md):
// a YAML list of apps, each with a password hash in Mosquitto's format (so `mosquitto_passwd` output or
// `edgetwin passwd` output can be pasted, and the same hash works on a Mosquitto) and the device
// namespaces whose KubeEdge `$hw/events/device/<namespace>/...` topics it may use.
//
//   users:
//     - name: line-a-dashboard
//       password: $7$20000$...$...
//       namespaces: [line-a]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type PasswordHash, parsePasswordHash } from './password-hash.js';

// the yaml package (72 modules) loads only when an edge reads a users file: most edges have none (issue 15, target 3)
const require = createRequire(import.meta.url);
const parse = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

/** Reserved: the twin's and the mappers' user (edge-bus-acl.ts). */
const RESERVED = 'edgetwin-service';
/** A Kubernetes namespace name (DNS label), or `*` for every namespace. */
const NAMESPACE = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?|\*)$/;
/** Printable, no MQTT wildcard or level separator: names appear in logs and could appear in ACL patterns. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
/** Bounded: a user file is a list of apps, not a user database. */
export const MAX_EDGE_BUS_USERS = 1000;

export interface EdgeBusUser {
  name: string;
  password: PasswordHash;
  /** namespaces granted; `*` = all, and the node membership topics */
  namespaces: ReadonlySet<string>;
}

export class EdgeUsersFileError extends Error {
  override readonly name = 'EdgeUsersFileError';
  readonly code = 'EDGE_USERS_FILE_INVALID';
  constructor(
    readonly file: string,
    readonly where: string,
    reason: string,
  ) {
    super(`${file}: ${where}: ${reason}`);
  }
}

export function parseEdgeBusUsers(text: string, file = 'users'): Map<string, EdgeBusUser> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new EdgeUsersFileError(file, 'YAML', (e as Error).message);
  }
  const fail = (where: string, reason: string): never => {
    throw new EdgeUsersFileError(file, where, reason);
  };
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { users?: unknown }).users))
    fail('users', 'expected a top-level `users:` list (see docs/security.md, "The edge bus on a LAN")');
  const extra = Object.keys(doc as object).filter((k) => k !== 'users');
  if (extra.length) fail(extra[0]!, 'unknown key (only `users:` is allowed)');
  const list = (doc as { users: unknown[] }).users;
  if (list.length > MAX_EDGE_BUS_USERS) fail('users', `${list.length} users; at most ${MAX_EDGE_BUS_USERS}`);
  const users = new Map<string, EdgeBusUser>();
  for (const [i, raw] of list.entries()) {
    const at = `users[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw fail(at, 'expected name, password, namespaces');
    const entry = raw as Record<string, unknown>;
    for (const k of Object.keys(entry))
      if (k !== 'name' && k !== 'password' && k !== 'namespaces')
        fail(`${at}.${k}`, 'unknown key (expected name, password, namespaces)');
    const name = entry.name;
    if (typeof name !== 'string' || !USER_NAME.test(name))
      throw fail(`${at}.name`, 'a user name of letters, digits and . _ @ - (at most 128)');
    if (name === RESERVED) fail(`${at}.name`, `${RESERVED} is the twin's and the mappers' user, managed by the edge`);
    if (users.has(name)) fail(`${at}.name`, `user ${name} is listed twice`);
    if (typeof entry.password !== 'string') throw fail(`${at}.password`, 'a password hash is required');
    let password: PasswordHash;
    try {
      password = parsePasswordHash(entry.password);
    } catch (e) {
      throw fail(`${at}.password`, `${(e as Error).message}; plain-text passwords are not accepted here`);
    }
    const ns = entry.namespaces;
    if (!Array.isArray(ns) || ns.length === 0)
      throw fail(`${at}.namespaces`, 'a non-empty list of device namespaces (or "*" for all)');
    for (const n of ns)
      if (typeof n !== 'string' || !NAMESPACE.test(n))
        fail(`${at}.namespaces`, `${JSON.stringify(n)} is not a namespace name (DNS label) or "*"`);
    users.set(name, { name, password, namespaces: new Set(ns as string[]) });
  }
  return users;
}

export function readEdgeBusUsersFile(file: string): Map<string, EdgeBusUser> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EdgeUsersFileError(
      file,
      'file',
      `cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseEdgeBusUsers(text, file);
}
