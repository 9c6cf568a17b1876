// A small ONVIF camera of our own (issue 13) for what ipycam lacks: Events (PullPoint subscription, ONVIF Event
// Service §9.1 / WS-BaseNotification, motion and tamper topics of the ONVIF topic set), Imaging settings (Imaging
// Service §5.1-5.2) and SystemReboot (Core §8.3.1), plus the minimum a mapper needs around them: device
// information, capabilities, one media profile, a stream URI whose RTSP DESCRIBE answers, and a snapshot behind
// HTTP Digest. Written from the ONVIF specifications; every SOAP request but GetSystemDateAndTime needs a valid
// WS-UsernameToken digest. Loopback only; nothing multicasts.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { TEST_PATTERN_JPEG } from './test-pattern.js';

export interface OnvifServerOptions {
  userName?: string;
  password?: string;
  host?: string;
  port?: number;
  rtspPort?: number;
  /** the snapshot's JPEG (default: a 64x48 test pattern) */
  jpeg?: Buffer;
  /** how long the camera is away after SystemReboot (ms) */
  rebootMs?: number;
  manufacturer?: string;
  model?: string;
  serialNumber?: string;
  /** simulate a car passing: motion starts every this many ms and ends half-way (default: never) */
  motionEveryMs?: number;
}

export type ImagingSettings = Record<'Brightness' | 'Contrast' | 'ColorSaturation' | 'Sharpness', number>;

export interface OnvifServer {
  /** host:port of the device service (KubeEdge's url form) */
  address: string;
  deviceUrl: string;
  port: number;
  rtspPort: number;
  imaging(): ImagingSettings;
  /** the world changes: motion or tamper starts/ends; every live subscription gets a notification */
  setMotion(on: boolean): void;
  setTamper(on: boolean): void;
  reboots(): number;
  subscriptions(): number;
  /**
   * 'subscribed' (id) when a pull point is created, 'rebooted' when the camera is back after SystemReboot,
   * 'rebootFailed' (error) when it could not listen again (its port taken meanwhile)
   */
  events: EventEmitter;
  /** gone (ports refuse) and back on the same ports */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** Notifications a subscription holds before the oldest is dropped (a client that stops pulling). */
export const MAX_QUEUED_EVENTS = 100;
/** Live subscriptions at most; CreatePullPointSubscription beyond it is refused with a fault. */
export const MAX_SUBSCRIPTIONS = 16;
const MAX_REQUEST_BYTES = 256 * 1024;
const IMAGING_RANGE = { min: 0, max: 100 };

const NS =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" ' +
  'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl" ' +
  'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing" ' +
  'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:ter="http://www.onvif.org/ver10/error"';
const envelope = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${NS}><s:Body>${body}</s:Body></s:Envelope>`;
const fault = (code: string, sub: string, reason: string) =>
  envelope(
    `<s:Fault><s:Code><s:Value>s:${code}</s:Value><s:Subcode><s:Value>${sub}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">${reason}</s:Text></s:Reason></s:Fault>`,
  );

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
});
const get = (node: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((n, k) => (n && typeof n === 'object' ? (n as Record<string, unknown>)[k] : undefined), node);
const textOf = (n: unknown): string | undefined =>
  typeof n === 'string'
    ? n
    : n && typeof n === 'object' && '#text' in n
      ? String((n as { '#text': unknown })['#text'])
      : undefined;

/** ISO 8601 durations of the form PT5S / PT1M / PT0.5S, in ms. */
function durationMs(text: string | undefined, dflt: number): number {
  const m = /^PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(text?.trim() ?? '');
  if (!m) return dflt;
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000;
}

interface Subscription {
  id: number;
  expires: number;
  queue: string[];
  waiter?: () => void;
}

export async function startOnvifServer(opts: OnvifServerOptions = {}): Promise<OnvifServer> {
  const userName = opts.userName ?? 'admin';
  const password = opts.password ?? 'cam-secret';
  const host = opts.host ?? '127.0.0.1';
  const jpeg = opts.jpeg ?? TEST_PATTERN_JPEG;
  const rebootMs = opts.rebootMs ?? 300;
  const imaging: ImagingSettings = { Brightness: 50, Contrast: 50, ColorSaturation: 50, Sharpness: 50 };
  const state = { motion: false, tamper: false, reboots: 0 };
  const subs = new Map<number, Subscription>();
  let nextSub = 1;
  const usedNonces = new Set<string>();
  const digestNonce = randomBytes(8).toString('hex');
  let port = opts.port ?? 0;
  let rtspPort = opts.rtspPort ?? 0;
  let http: Server | undefined;
  let rtsp: TcpServer | undefined;
  const sockets = new Set<Socket>();
  const events = new EventEmitter();
  /** the reboot under way, from the SystemReboot reply until the camera is back */
  let rebooting: Promise<void> | undefined;
  const base = () => `http://${host}:${port}`;

  const authorized = (doc: unknown): boolean => {
    const tok = get(doc, 'Envelope', 'Header', 'Security', 'UsernameToken');
    const user = textOf(get(tok, 'Username'));
    const digest = textOf(get(tok, 'Password'));
    const nonce = textOf(get(tok, 'Nonce'));
    const created = textOf(get(tok, 'Created'));
    if (user !== userName || !digest || !nonce || !created) return false;
    if (Math.abs(Date.now() - Date.parse(created)) > 5 * 60_000) return false;
    if (usedNonces.has(nonce)) return false; // a replayed token (WS-Security UsernameToken Profile §3.1)
    const want = createHash('sha1')
      .update(Buffer.concat([Buffer.from(nonce, 'base64'), Buffer.from(created), Buffer.from(password)]))
      .digest('base64');
    if (want !== digest) return false;
    usedNonces.add(nonce);
    if (usedNonces.size > 10_000) usedNonces.clear();
    return true;
  };

  const notify = (topic: string, on: boolean) => {
    const now = new Date().toISOString();
    const msg =
      `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${topic}</wsnt:Topic>` +
      `<wsnt:Message><tt:Message UtcTime="${now}" PropertyOperation="Changed"><tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VS_1"/></tt:Source>` +
      `<tt:Data><tt:SimpleItem Name="State" Value="${on}"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`;
    for (const s of subs.values()) {
      s.queue.push(msg);
      if (s.queue.length > MAX_QUEUED_EVENTS) s.queue.shift();
      s.waiter?.();
    }
  };

  const handle = async (path: string, doc: unknown): Promise<[number, string]> => {
    const body = get(doc, 'Envelope', 'Body') as Record<string, unknown> | undefined;
    const op = Object.keys(body ?? {}).find((k) => !k.startsWith('@')) ?? '';
    const req = body?.[op];
    if (op === 'GetSystemDateAndTime') {
      const d = new Date();
      return [
        200,
        envelope(
          `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time><tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
        ),
      ];
    }
    if (!authorized(doc)) return [400, fault('Sender', 'ter:NotAuthorized', 'Sender not Authorized')];
    switch (op) {
      case 'GetCapabilities':
        return [
          200,
          envelope(
            `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>${base()}/onvif/device_service</tt:XAddr></tt:Device><tt:Events><tt:XAddr>${base()}/onvif/events_service</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events><tt:Imaging><tt:XAddr>${base()}/onvif/imaging_service</tt:XAddr></tt:Imaging><tt:Media><tt:XAddr>${base()}/onvif/media_service</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`,
          ),
        ];
      case 'GetDeviceInformation':
        return [
          200,
          envelope(
            `<tds:GetDeviceInformationResponse><tds:Manufacturer>${opts.manufacturer ?? 'edgetwin'}</tds:Manufacturer><tds:Model>${opts.model ?? 'onvif-sim'}</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion><tds:SerialNumber>${opts.serialNumber ?? 'SIM-0001'}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>`,
          ),
        ];
      case 'SystemReboot':
        state.reboots++;
        // as a camera does: the reply first, then away; asked again while it reboots, it reboots once (two
        // reboots side by side re-listened twice on the same port: EADDRINUSE)
        if (!rebooting) {
          rebooting = new Promise<void>((res) => setTimeout(res, 100))
            .then(reboot)
            .catch((e: unknown) => {
              events.emit('rebootFailed', e);
            })
            .finally(() => {
              rebooting = undefined;
            });
        }
        return [
          200,
          envelope(
            '<tds:SystemRebootResponse><tds:Message>Rebooting in 1 second</tds:Message></tds:SystemRebootResponse>',
          ),
        ];
      case 'GetProfiles':
        return [
          200,
          envelope(
            `<trt:GetProfilesResponse><trt:Profiles token="main" fixed="true"><tt:Name>main</tt:Name><tt:VideoSourceConfiguration token="VSC_1"><tt:Name>vs</tt:Name><tt:UseCount>1</tt:UseCount><tt:SourceToken>VS_1</tt:SourceToken><tt:Bounds x="0" y="0" width="64" height="48"/></tt:VideoSourceConfiguration><tt:VideoEncoderConfiguration token="VEC_1"><tt:Name>jpeg</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>JPEG</tt:Encoding><tt:Resolution><tt:Width>64</tt:Width><tt:Height>48</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles></trt:GetProfilesResponse>`,
          ),
        ];
      case 'GetStreamUri':
        return [
          200,
          envelope(
            `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://${host}:${rtspPort}/main</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`,
          ),
        ];
      case 'GetSnapshotUri':
        return [
          200,
          envelope(
            `<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>${base()}/snapshot.jpg</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>`,
          ),
        ];
      case 'GetImagingSettings': {
        if (textOf(get(req, 'VideoSourceToken')) !== 'VS_1')
          return [400, fault('Sender', 'ter:NoSource', 'The requested VideoSource does not exist')];
        const items = Object.entries(imaging)
          .map(([k, v]) => `<tt:${k}>${v}</tt:${k}>`)
          .join('');
        return [
          200,
          envelope(
            `<timg:GetImagingSettingsResponse><timg:ImagingSettings>${items}</timg:ImagingSettings></timg:GetImagingSettingsResponse>`,
          ),
        ];
      }
      case 'SetImagingSettings': {
        if (textOf(get(req, 'VideoSourceToken')) !== 'VS_1')
          return [400, fault('Sender', 'ter:NoSource', 'The requested VideoSource does not exist')];
        const s = get(req, 'ImagingSettings') as Record<string, unknown> | undefined;
        const next = { ...imaging };
        for (const k of Object.keys(imaging) as Array<keyof ImagingSettings>) {
          const t = textOf(s?.[k]);
          if (t === undefined) continue;
          const n = Number(t);
          if (!Number.isFinite(n) || n < IMAGING_RANGE.min || n > IMAGING_RANGE.max)
            return [
              400,
              fault(
                'Sender',
                'ter:InvalidArgVal',
                `The requested ${k} ${t} is outside ${IMAGING_RANGE.min}..${IMAGING_RANGE.max}`,
              ),
            ];
          next[k] = n;
        }
        Object.assign(imaging, next);
        return [200, envelope('<timg:SetImagingSettingsResponse/>')];
      }
      case 'CreatePullPointSubscription': {
        for (const [id, s] of subs) if (s.expires < Date.now()) subs.delete(id);
        if (subs.size >= MAX_SUBSCRIPTIONS)
          return [400, fault('Receiver', 'ter:Action', `too many subscriptions (at most ${MAX_SUBSCRIPTIONS})`)];
        const id = nextSub++;
        const now = Date.now();
        const expires = now + durationMs(textOf(get(req, 'InitialTerminationTime')), 60_000);
        subs.set(id, { id, expires, queue: [] });
        setImmediate(() => events.emit('subscribed', id));
        return [
          200,
          envelope(
            `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${base()}/onvif/subscription/${id}</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>${new Date(now).toISOString()}</wsnt:CurrentTime><wsnt:TerminationTime>${new Date(expires).toISOString()}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
          ),
        ];
      }
      case 'PullMessages':
      case 'Renew':
      case 'Unsubscribe': {
        const id = Number(/^\/onvif\/subscription\/(\d+)$/.exec(path)?.[1]);
        const sub = subs.get(id);
        if (!sub || sub.expires < Date.now()) {
          subs.delete(id);
          return [400, fault('Sender', 'wsrf-rw:ResourceUnknownFault', `no subscription ${path}`)];
        }
        if (op === 'Unsubscribe') {
          subs.delete(id);
          sub.waiter?.();
          return [200, envelope('<wsnt:UnsubscribeResponse/>')];
        }
        if (op === 'Renew') {
          sub.expires = Date.now() + durationMs(textOf(get(req, 'TerminationTime')), 60_000);
          return [
            200,
            envelope(
              `<wsnt:RenewResponse><wsnt:TerminationTime>${new Date(sub.expires).toISOString()}</wsnt:TerminationTime></wsnt:RenewResponse>`,
            ),
          ];
        }
        const limit = Math.max(1, Number(textOf(get(req, 'MessageLimit')) ?? 100) || 100);
        const timeout = Math.min(durationMs(textOf(get(req, 'Timeout')), 5000), 60_000);
        if (sub.queue.length === 0)
          await new Promise<void>((res) => {
            const t = setTimeout(res, timeout);
            sub.waiter = () => {
              clearTimeout(t);
              res();
            };
          });
        delete sub.waiter;
        sub.expires = Math.max(sub.expires, Date.now() + 10_000);
        const msgs = sub.queue.splice(0, limit).join('');
        return [
          200,
          envelope(
            `<tev:PullMessagesResponse><tev:CurrentTime>${new Date().toISOString()}</tev:CurrentTime><tev:TerminationTime>${new Date(sub.expires).toISOString()}</tev:TerminationTime>${msgs}</tev:PullMessagesResponse>`,
          ),
        ];
      }
      default:
        return [
          400,
          fault('Receiver', 'ter:ActionNotSupported', `${op || 'the request'} is not supported by this camera`),
        ];
    }
  };

  const digestOk = (req: IncomingMessage): boolean => {
    const h = req.headers.authorization ?? '';
    if (!h.startsWith('Digest ')) return false;
    const p: Record<string, string> = {};
    for (const m of h.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)) p[m[1] as string] = m[2] ?? m[3] ?? '';
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const ha1 = md5(`${userName}:edgetwin-sim:${password}`);
    const ha2 = md5(`GET:${p.uri}`);
    const want = p.qop ? md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : md5(`${ha1}:${p.nonce}:${ha2}`);
    return p.username === userName && p.nonce === digestNonce && p.response === want;
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET' && path === '/snapshot.jpg') {
      if (!digestOk(req)) {
        res.writeHead(401, {
          'WWW-Authenticate': `Digest realm="edgetwin-sim", qop="auth", nonce="${digestNonce}", algorithm=MD5`,
        });
        return res.end('Unauthorized');
      }
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': jpeg.length });
      return res.end(jpeg);
    }
    if (req.method !== 'POST' || !path.startsWith('/onvif/')) {
      res.writeHead(404);
      return res.end();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BYTES) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let doc: unknown;
      try {
        doc = parser.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        doc = undefined;
      }
      void handle(path, doc).then(
        ([status, xml]) => {
          if (res.destroyed) return;
          res.writeHead(status, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
          res.end(xml);
        },
        (e: Error) => {
          res.writeHead(500, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
          res.end(fault('Receiver', 'ter:Action', e.message));
        },
      );
    });
  };

  const onRtsp = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.length > 16_384) return socket.destroy();
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      const cseq = /^CSeq:\s*(\S+)/im.exec(head)?.[1] ?? '0';
      if (!/^DESCRIBE /.test(head)) return socket.write(`RTSP/1.0 405 Method Not Allowed\r\nCSeq: ${cseq}\r\n\r\n`);
      const sdp = `v=0\r\no=- 0 0 IN IP4 ${host}\r\ns=edgetwin sim\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=control:trackID=0\r\n`;
      socket.write(
        `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
      );
    });
  };

  const listen = async () => {
    const h = createServer(onRequest);
    h.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((res, rej) => {
      h.once('error', rej);
      h.listen(port, host, () => res());
    });
    port = (h.address() as { port: number }).port;
    const r = createTcpServer(onRtsp);
    await new Promise<void>((res, rej) => {
      r.once('error', rej);
      r.listen(rtspPort, host, () => res());
    });
    rtspPort = (r.address() as { port: number }).port;
    http = h;
    rtsp = r;
  };
  const close = async () => {
    for (const s of subs.values()) s.waiter?.();
    const h = http;
    const r = rtsp;
    http = undefined;
    rtsp = undefined;
    for (const s of sockets) s.destroy();
    await Promise.all([
      h && new Promise<void>((res) => h.close(() => res())),
      r && new Promise<void>((res) => r.close(() => res())),
    ]);
  };
  let stopped = false;
  const reboot = async () => {
    if (stopped) return;
    await close();
    subs.clear(); // a rebooted camera forgets its subscriptions
    await new Promise((r) => setTimeout(r, rebootMs));
    if (stopped) return; // stopped while away: it stays away (no listener left behind after the test)
    await listen();
    events.emit('rebooted');
  };

  await listen();
  let motionTimer: NodeJS.Timeout | undefined;
  if (opts.motionEveryMs) {
    const every = opts.motionEveryMs;
    motionTimer = setInterval(() => {
      state.motion = true;
      notify('tns1:VideoSource/MotionAlarm', true);
      setTimeout(() => {
        state.motion = false;
        notify('tns1:VideoSource/MotionAlarm', false);
      }, every / 2).unref();
    }, every);
    motionTimer.unref();
  }
  return {
    get address() {
      return `${host}:${port}`;
    },
    get deviceUrl() {
      return `${base()}/onvif/device_service`;
    },
    get port() {
      return port;
    },
    get rtspPort() {
      return rtspPort;
    },
    imaging: () => ({ ...imaging }),
    setMotion: (on) => {
      state.motion = on;
      notify('tns1:VideoSource/MotionAlarm', on);
    },
    setTamper: (on) => {
      state.tamper = on;
      notify('tns1:VideoSource/GlobalSceneChange/ImagingService', on);
    },
    reboots: () => state.reboots,
    subscriptions: () => subs.size,
    events,
    down: close,
    up: listen,
    stop: async () => {
      stopped = true;
      clearInterval(motionTimer);
      await rebooting;
      await close();
    },
  } as OnvifServer;
}
