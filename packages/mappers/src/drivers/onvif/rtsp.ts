// Camera health, stream side (issue 13): an RTSP DESCRIBE (RFC 2326 §10.2) of the stream URI over TCP,
// answering a Basic or Digest challenge once. 200 with an SDP body means a client could open the stream.
import { Socket } from 'node:net';
import { authorization, parseChallenges } from './http-auth.js';
import type { Credentials } from './soap.js';

export interface DescribeResult {
  ok: boolean;
  status?: number;
  /** why not, for the log and the docs' "how a failure shows" */
  reason?: string;
}

const MAX_REPLY = 64 * 1024;

function request(
  url: URL,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ status: number; headers: string[]; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buf = '';
    const done = (e?: Error, v?: { status: number; headers: string[]; raw: string }) => {
      socket.destroy();
      if (e) reject(e);
      else if (v) resolve(v);
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no RTSP answer within ${timeoutMs} ms`)));
    socket.once('error', (e) => done(e));
    socket.connect(Number(url.port || 554), url.hostname, () => {
      const lines = [
        `DESCRIBE ${url.toString()} RTSP/1.0`,
        'CSeq: 1',
        'Accept: application/sdp',
        'User-Agent: edgetwin-onvif-mapper',
      ];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.length > MAX_REPLY) return done(new Error('RTSP reply over 64 KiB'));
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end).split('\r\n');
      const m = /^RTSP\/1\.\d (\d{3})/.exec(head[0] ?? '');
      if (!m) return done(new Error(`not an RTSP reply: ${(head[0] ?? '').slice(0, 60)}`));
      const status = Number(m[1]);
      const len = Number(/^content-length:\s*(\d+)/im.exec(buf.slice(0, end))?.[1] ?? 0);
      if (status === 200 && buf.length < end + 4 + len) return; // wait for the SDP
      const auth = head.filter((h) => /^www-authenticate:/i.test(h)).map((h) => h.replace(/^[^:]*:\s*/, ''));
      done(undefined, { status, headers: auth, raw: buf.slice(end + 4, end + 4 + len) });
    });
  });
}

/** DESCRIBE `uri`; never throws. */
export async function rtspDescribe(
  uri: string,
  cred: Credentials | undefined,
  timeoutMs: number,
): Promise<DescribeResult> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { ok: false, reason: `stream URI ${uri} is not a URL` };
  }
  if (url.protocol !== 'rtsp:') return { ok: false, reason: `stream URI ${uri} is not rtsp://` };
  try {
    let r = await request(url, {}, timeoutMs);
    if (r.status === 401 && cred) {
      const ch = parseChallenges(r.headers);
      if (!ch) return { ok: false, status: 401, reason: 'RTSP asks for authentication in a scheme we cannot answer' };
      r = await request(url, { Authorization: authorization(ch, cred, 'DESCRIBE', url.toString()) }, timeoutMs);
    }
    if (r.status !== 200) return { ok: false, status: r.status, reason: `RTSP DESCRIBE answered ${r.status}` };
    if (!r.raw.includes('m=video'))
      return { ok: false, status: 200, reason: 'RTSP DESCRIBE answered an SDP without video' };
    return { ok: true, status: 200 };
  } catch (e) {
    return { ok: false, reason: `RTSP DESCRIBE of ${url.host} failed: ${(e as Error).message}` };
  }
}
