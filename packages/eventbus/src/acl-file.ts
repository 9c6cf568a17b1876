// Mosquitto-format password and ACL files for the embedded broker, so one set of files serves either broker.
// ACL lines: `user <name>`, `topic [read|write|readwrite] <filter>`, `pattern [read|write|readwrite] <filter>`
// (%u = user name, %c = client id), `#` comments. Topic lines before any `user` line apply to anonymous clients.
import type { BrokerAuth } from './contracts.js';
import { topicMatches } from './topic-match.js';

type Access = 'read' | 'write' | 'readwrite';

interface Rule {
  access: Access;
  filter: string;
}

export interface AclRules {
  /** rules per user name; '' holds the rules for anonymous clients */
  users: Map<string, Rule[]>;
  /** pattern rules, for every client, with %u and %c substituted */
  patterns: Rule[];
}

/** An ACL or password file line that cannot be understood, with file and line. */
export class AclFileError extends Error {
  override readonly name = 'AclFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

function parseAccessAndFilter(rest: string[], file: string, line: number, keyword: string): Rule {
  let access: Access = 'readwrite';
  let filterParts = rest;
  if (rest[0] === 'read' || rest[0] === 'write' || rest[0] === 'readwrite') {
    access = rest[0];
    filterParts = rest.slice(1);
  } else if (rest[0] === 'deny') {
    throw new AclFileError(file, line, `'${keyword} deny' is not supported: list only what is allowed`);
  }
  // Mosquitto allows spaces in topics: everything after the access word is the filter.
  const filter = filterParts.join(' ');
  if (!filter) throw new AclFileError(file, line, `'${keyword}' needs a topic filter`);
  return { access, filter };
}

export function parseAclFile(text: string, file = 'acl'): AclRules {
  const users = new Map<string, Rule[]>([['', []]]);
  const patterns: Rule[] = [];
  let current = '';
  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword === 'user') {
      const name = rest.join(' ');
      if (!name) throw new AclFileError(file, lineNo, "'user' needs a user name");
      current = name;
      if (!users.has(name)) users.set(name, []);
    } else if (keyword === 'topic') {
      users.get(current)!.push(parseAccessAndFilter(rest, file, lineNo, 'topic'));
    } else if (keyword === 'pattern') {
      patterns.push(parseAccessAndFilter(rest, file, lineNo, 'pattern'));
    } else {
      throw new AclFileError(file, lineNo, `unknown keyword '${keyword}' (expected user, topic or pattern)`);
    }
  });
  return { users, patterns };
}

/** Plain-text `user:password` lines (the input format of mosquitto_passwd -U), `#` comments. */
export function parsePasswordFile(text: string, file = 'passwords'): Record<string, string> {
  // no prototype: a user named `__proto__` is an entry like any other, not a change of prototype
  const users: Record<string, string> = Object.create(null);
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new AclFileError(file, i + 1, 'expected user:password');
    const password = line.slice(colon + 1);
    if (password.startsWith('$6$') || password.startsWith('$7$')) {
      throw new AclFileError(
        file,
        i + 1,
        'hashed passwords (mosquitto_passwd output) are not supported: use plain text',
      );
    }
    users[line.slice(0, colon)] = password;
  });
  return users;
}

/** True if every topic matching `filter` also matches `rule` (so subscribing to filter reads nothing forbidden). */
export function filterCovers(rule: string, filter: string): boolean {
  const r = rule.split('/');
  const f = filter.split('/');
  if (f[0]!.startsWith('$') && (r[0] === '+' || r[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const rl = r[i];
    if (rl === '#') return true;
    if (rl === undefined) return false;
    const fl = f[i]!;
    if (fl === '#') return false;
    if (rl === '+') continue;
    if (fl !== rl) return false;
  }
  return r.length === f.length || (r.length === f.length + 1 && r[f.length] === '#');
}

function rulesFor(acl: AclRules, client: { id: string; username?: string }): Rule[] {
  const own = acl.users.get(client.username ?? '') ?? [];
  const patterns = acl.patterns.map((p) => ({
    access: p.access,
    filter: p.filter.replaceAll('%u', client.username ?? '').replaceAll('%c', client.id),
  }));
  return [...own, ...patterns];
}

/**
 * ACL hooks for startBroker. Publishing needs a write rule matching the topic. Subscribing needs a read
 * rule covering the whole filter: unlike Mosquitto, which grants the SUBSCRIBE and silently filters what it
 * delivers, a too-wide filter is refused (SUBACK 0x80), so the subscriber learns about it.
 */
export function aclAuth(acl: AclRules): Required<Pick<BrokerAuth, 'authorizePublish' | 'authorizeSubscribe'>> {
  return {
    authorizePublish: (client, topic) =>
      rulesFor(acl, client).some((r) => r.access !== 'read' && topicMatches(r.filter, topic)),
    authorizeSubscribe: (client, filter) =>
      rulesFor(acl, client).some((r) => r.access !== 'write' && filterCovers(r.filter, filter)),
  };
}
