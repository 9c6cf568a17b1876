// ONVIF's SOAP 1.2 transport (issue 13; ONVIF Core Specification §5, WS-Security UsernameToken Profile 1.0):
// one envelope per call with a UsernameToken PasswordDigest header, POSTed with fetch, the reply parsed with
// fast-xml-parser. Namespace prefixes are dropped while parsing, so a camera that uses an undeclared prefix
// (ipycam does in four PTZ replies) still parses; a SOAP Fault becomes a SoapError with its code and reason.
import { createHash, randomBytes } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';

export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tptz: 'http://www.onvif.org/ver20/ptz/wsdl',
  timg: 'http://www.onvif.org/ver20/imaging/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  tt: 'http://www.onvif.org/ver10/schema',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
  wsa: 'http://www.w3.org/2005/08/addressing',
} as const;

/** The longest SOAP reply read (a camera answering megabytes is broken or hostile). */
export const MAX_SOAP_REPLY_BYTES = 2 * 1024 * 1024;

export type SoapErrorKind = 'auth' | 'fault' | 'connection' | 'timeout' | 'malformed' | 'http';

export class SoapError extends Error {
  constructor(
    message: string,
    readonly kind: SoapErrorKind,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SoapError';
  }
}

export interface Credentials {
  userName: string;
  password: string;
}

/** WS-Security UsernameToken with PasswordDigest = Base64(SHA1(nonce + created + password)). */
export function usernameToken(cred: Credentials, created: Date): string {
  const nonce = randomBytes(16);
  const createdText = created.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const digest = createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(createdText, 'utf8'), Buffer.from(cred.password, 'utf8')]))
    .digest('base64');
  return (
    `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
    `<wsse:Username>${xmlEscape(cred.userName)}</wsse:Username>` +
    `<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">${digest}</wsse:Password>` +
    `<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${createdText}</wsu:Created></wsse:UsernameToken></wsse:Security>`
  );
}

export function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function envelope(body: string, header = ''): string {
  const ns = Object.entries(NS)
    .filter(([k]) => k !== 'soap' && k !== 'wsse' && k !== 'wsu')
    .map(([k, v]) => ` xmlns:${k}="${v}"`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${NS.soap}"${ns}><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => ['Profiles', 'Preset', 'NotificationMessage', 'SimpleItem', 'Scopes', 'ProbeMatch'].includes(name),
});

/** Parses XML into plain objects: attributes as `@name`, text of an element with attributes as `#text`. */
export function parseXml(text: string): Record<string, unknown> {
  return parser.parse(text) as Record<string, unknown>;
}

export type Xml = Record<string, unknown> | string | undefined;

/** Walks a parsed tree by element names (prefixes already dropped). */
export function at(node: unknown, ...path: string[]): unknown {
  let cur = node;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** The text of an element (a bare string, or `#text` of one with attributes). */
export function text(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') return String(node);
  if (typeof node === 'object' && '#text' in (node as Record<string, unknown>))
    return String((node as Record<string, unknown>)['#text']);
  if (typeof node === 'object') return '';
  return undefined;
}

export function attr(node: unknown, name: string): string | undefined {
  const v = at(node, `@${name}`);
  return v === undefined ? undefined : String(v);
}

export function list(node: unknown): unknown[] {
  if (node === undefined || node === null || node === '') return [];
  return Array.isArray(node) ? node : [node];
}

export interface SoapCallOptions {
  timeoutMs: number;
  credentials?: Credentials;
  /** camera clock minus ours (ms), so the token's Created is fresh on the camera's clock */
  clockOffsetMs?: number;
  signal?: AbortSignal;
}

/**
 * One SOAP call. Returns the Body element's first child (the response). Throws SoapError: 'auth' when the
 * camera refuses the credentials (HTTP 401/403, or a NotAuthorized fault), 'fault' for other faults,
 * 'connection'/'timeout' when it cannot be reached, 'malformed' when the reply is not a SOAP envelope.
 */
export async function soapCall(
  url: string,
  action: string,
  body: string,
  opts: SoapCallOptions,
): Promise<Record<string, unknown>> {
  const header = opts.credentials
    ? usernameToken(opts.credentials, new Date(Date.now() + (opts.clockOffsetMs ?? 0)))
    : '';
  const signals = [AbortSignal.timeout(opts.timeoutMs)];
  if (opts.signal) signals.push(opts.signal);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': `application/soap+xml; charset=utf-8; action="${action}"`,
        SOAPAction: `"${action}"`,
      },
      body: envelope(body, header),
      signal: AbortSignal.any(signals),
      redirect: 'error',
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    if (err.name === 'TimeoutError')
      throw new SoapError(`no answer from ${url} within ${opts.timeoutMs} ms`, 'timeout', undefined, { cause: e });
    throw new SoapError(`cannot reach ${url}: ${err.cause?.code ?? err.message}`, 'connection', undefined, {
      cause: e,
    });
  }
  const raw = await readLimited(res, MAX_SOAP_REPLY_BYTES, url);
  const name = action.slice(action.lastIndexOf('/') + 1);
  let doc: Record<string, unknown> | undefined;
  try {
    doc = raw.trim().startsWith('<') ? parseXml(raw) : undefined;
  } catch {
    doc = undefined;
  }
  const fault = at(doc, 'Envelope', 'Body', 'Fault');
  if (fault !== undefined) {
    const reason = text(at(fault, 'Reason', 'Text')) ?? text(at(fault, 'faultstring')) ?? 'no reason given';
    const codes = [
      at(fault, 'Code', 'Value'),
      at(fault, 'Code', 'Subcode', 'Value'),
      at(fault, 'Code', 'Subcode', 'Subcode', 'Value'),
    ]
      .map((c) => text(c) ?? '')
      .join(' ');
    const auth =
      res.status === 401 ||
      res.status === 403 ||
      /NotAuthorized|FailedAuthentication|InvalidSecurity/i.test(codes) ||
      /not authori[sz]ed|authentication/i.test(reason);
    throw new SoapError(
      `${name}: ${auth ? 'the camera refused the credentials' : 'the camera answered a fault'}: ${reason}${codes.trim() ? ` (${codes.trim()})` : ''}`,
      auth ? 'auth' : 'fault',
      res.status,
    );
  }
  if (res.status === 401 || res.status === 403)
    throw new SoapError(`${name}: the camera refused the credentials (HTTP ${res.status})`, 'auth', res.status);
  if (!res.ok) throw new SoapError(`${name}: HTTP ${res.status} ${res.statusText}`, 'http', res.status);
  const bodyEl = at(doc, 'Envelope', 'Body');
  if (!bodyEl || typeof bodyEl !== 'object')
    throw new SoapError(`${name}: the reply is not a SOAP envelope: ${raw.slice(0, 120)}`, 'malformed', res.status);
  const first = Object.entries(bodyEl as Record<string, unknown>).find(([k]) => !k.startsWith('@'));
  const value = first?.[1];
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

/** Reads a response body up to `limit` bytes; more is an error naming the limit. */
export async function readLimitedBytes(res: Response, limit: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(len) && len > limit) {
    await res.body?.cancel().catch(() => undefined);
    throw new SoapError(`${what}: ${len} bytes is over the ${limit} byte limit`, 'malformed', res.status);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new SoapError(`${what}: more than the ${limit} byte limit`, 'malformed', res.status);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

async function readLimited(res: Response, limit: number, what: string): Promise<string> {
  return (await readLimitedBytes(res, limit, what)).toString('utf8');
}
