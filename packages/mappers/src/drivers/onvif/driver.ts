// The ONVIF device driver (issue 13; docs/onvif.md): one OnvifCamera per device. connect() learns the
// camera's clock, services, identity and media profiles; reads answer each property's datum (device
// information, profiles, stream and snapshot URIs, PTZ position and presets, imaging, health, the state of
// saveFrame/saveVideo) with one SOAP call per kind per batch. A snapshot read fetches the JPEG (Basic or Digest
// auth), checks it, publishes it on api's mediaTopic and reports only its metadata. PTZ writes confirm with
// GetStatus instead of trusting the reply; SetPreset keeps the token the camera returns. Motion and tamper
// come from a PullPoint subscription (subscribe()). A camera that refuses the credentials stays connected
// but unhealthy: every read fails with code `config` saying so, and the password file is read again on
// the next attempt.

import { mediaTopic, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import {
  type DeviceDriver,
  type DeviceHealth,
  type DriverContext,
  DriverError,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from '../../framework/driver.js';
import {
  type CameraEvent,
  type ImagingKey,
  type MediaProfile,
  OnvifCamera,
  type PtzPosition,
  type PtzPreset,
} from './camera.js';
import {
  EVENT_DATA,
  type OnvifDatum,
  type OnvifProtocolConfig,
  type OnvifVisitor,
  parseOnvifVisitor,
  readPasswordFile,
} from './config.js';
import { authorization, parseChallenges } from './http-auth.js';
import { jpegInfo } from './jpeg.js';
import { MediaJobs } from './media.js';
import { rtspDescribe } from './rtsp.js';
import { type Credentials, readLimitedBytes, SoapError } from './soap.js';

/** What survives a reconnect of the same device in this mapper: the presets it saved, the last writes of actions. */
interface DeviceMemory {
  /** preset name -> token the camera returned from SetPreset */
  saved: Map<string, string>;
  lastSetPreset?: string;
  /** the value last written to `preset` (a name or a token) */
  lastGoto?: string;
  reboot: boolean;
  lastFrameTime: number;
  /** the last value written to a command property (ptzMove, ptzRelative): what it reads back */
  commands: Map<string, string>;
}
const memories = new Map<string, DeviceMemory>();
function memoryOf(id: string): DeviceMemory {
  let m = memories.get(id);
  if (!m) {
    m = { saved: new Map(), reboot: false, lastFrameTime: 0, commands: new Map() };
    memories.set(id, m);
  }
  return m;
}

const POSITION_EPSILON = 1e-3;
/** data the mapper remembers (what it last did), read without asking the camera */
const MEMORY_DATA = new Set<OnvifDatum>(['reboot', 'ptzMove', 'ptzRelative', 'lastFrameTime']);
type Wanted = { p: ResolvedProperty; datum: OnvifDatum };
const HEALTH_EVERY_MS = 5000;
const IMAGING: Partial<Record<OnvifDatum, ImagingKey>> = {
  brightness: 'Brightness',
  contrast: 'Contrast',
  colorSaturation: 'ColorSaturation',
  sharpness: 'Sharpness',
};

const samePosition = (a: { pan?: number; tilt?: number; zoom?: number }, b: PtzPosition) =>
  Math.abs((a.pan ?? b.pan) - b.pan) < POSITION_EPSILON &&
  Math.abs((a.tilt ?? b.tilt) - b.tilt) < POSITION_EPSILON &&
  Math.abs((a.zoom ?? b.zoom) - b.zoom) < POSITION_EPSILON;

export class OnvifDeviceDriver implements DeviceDriver {
  private camera: OnvifCamera | undefined;
  private connected = false;
  /** set while the camera refuses our credentials: reads fail saying so, health is unhealthy */
  private authProblem: string | undefined;
  private profiles: MediaProfile[] = [];
  private streamUris = new Map<string, string>();
  private snapshotUris = new Map<string, string>();
  private lastHealth: { at: number; ok: boolean; reason?: string } | undefined;
  /** the last SOAP call could not reach the camera (cleared by the next one that does) */
  private unreachable = false;
  private readonly eventState = new Map<OnvifDatum, boolean>();
  private readonly memory: DeviceMemory;
  private readonly media: MediaJobs;
  private readonly where: string;

  constructor(
    private readonly device: ResolvedDevice,
    private readonly cfg: OnvifProtocolConfig,
    private readonly ctx: DriverContext,
  ) {
    this.where = `device ${device.id} (${cfg.deviceUrl})`;
    this.memory = memoryOf(device.id);
    this.media = new MediaJobs(device.id, ctx.logger, (t) => {
      this.memory.lastFrameTime = Math.max(this.memory.lastFrameTime, t);
    });
  }

  pushed(p: ResolvedProperty): boolean {
    const v = parseOnvifVisitor(p);
    return v.ok && EVENT_DATA.includes(v.value.datum);
  }

  private credentials(): Credentials | undefined {
    const { userName, passwordFile } = this.cfg;
    if (userName === undefined || passwordFile === undefined) return undefined;
    try {
      return { userName, password: readPasswordFile(passwordFile) };
    } catch (e) {
      throw new DriverError(
        `${this.where}: cannot read the password file ${passwordFile}: ${(e as Error).message}`,
        'config',
        false,
      );
    }
  }

  async connect(): Promise<void> {
    await this.disconnect();
    const cred = this.credentials();
    const camera = new OnvifCamera(this.cfg.deviceUrl, () => cred, this.cfg.timeoutMs);
    this.camera = camera;
    this.connected = true;
    try {
      await this.init(camera);
    } catch (e) {
      if (e instanceof SoapError && e.kind === 'auth') {
        // reachable, but our credentials are refused: stay connected and unhealthy (reads say why)
        this.authProblem = this.authMessage(e);
        this.ctx.logger.warn({ err: e.message }, 'camera refused the credentials');
        return;
      }
      this.connected = false;
      this.camera = undefined;
      throw this.toDriverError(e, 'connect');
    }
  }

  private authMessage(e: SoapError): string {
    return `${this.where}: the camera refused the credentials of user "${this.cfg.userName ?? '(none)'}" (${e.message}); check userName and the password file ${this.cfg.passwordFile ?? '(none: set userName and password)'}`;
  }

  private async init(camera: OnvifCamera): Promise<void> {
    await camera.syncClock();
    await camera.getCapabilities();
    this.profiles = await camera.getProfiles();
    this.unreachable = false;
    this.streamUris.clear();
    this.snapshotUris.clear();
    this.authProblem = undefined;
    this.ctx.logger.info(
      { services: camera.services, profiles: this.profiles.map((p) => p.token), clockOffsetMs: camera.clockOffsetMs },
      'ONVIF camera connected',
    );
  }

  /** Before each use: connected, and (after refused credentials) the password file tried again. */
  private async ready(): Promise<OnvifCamera> {
    const camera = this.camera;
    if (!this.connected || !camera) throw new DriverError(`${this.where}: not connected`, 'not-connected', true);
    if (this.authProblem) {
      const fresh = new OnvifCamera(
        this.cfg.deviceUrl,
        (() => {
          const c = this.credentials();
          return () => c;
        })(),
        this.cfg.timeoutMs,
      );
      try {
        await this.init(fresh);
        this.camera = fresh;
        return fresh;
      } catch (e) {
        if (e instanceof SoapError && e.kind === 'auth') {
          this.authProblem = this.authMessage(e);
          throw new DriverError(this.authProblem, 'config', true);
        }
        throw this.toDriverError(e, 'connect');
      }
    }
    return camera;
  }

  private toDriverError(e: unknown, what: string, property?: string): DriverError {
    if (e instanceof DriverError) return e;
    const on = property ? ` property ${property}:` : '';
    if (e instanceof SoapError) {
      if (e.kind === 'auth') {
        this.authProblem = this.authMessage(e);
        return new DriverError(this.authProblem, 'config', true);
      }
      if (e.kind === 'connection' || e.kind === 'timeout') this.unreachable = true;
      if (e.kind === 'connection' || e.kind === 'timeout')
        return new DriverError(
          `${this.where}:${on} ${e.message}`,
          e.kind === 'timeout' ? 'timeout' : 'connection',
          true,
          { cause: e },
        );
      return new DriverError(`${this.where}:${on} ${what}: ${e.message}`, 'exception', true, { cause: e });
    }
    return new DriverError(`${this.where}:${on} ${what}: ${(e as Error).message}`, 'io', true, { cause: e });
  }

  private profileFor(v: OnvifVisitor, needPtz = false): MediaProfile {
    const p = v.profile
      ? this.profiles.find((x) => x.token === v.profile || x.name === v.profile)
      : needPtz
        ? (this.profiles.find((x) => x.ptz) ?? this.profiles[0])
        : this.profiles[0];
    if (!p)
      throw new DriverError(
        `${this.where}: ${v.profile ? `no media profile "${v.profile}" (profiles: ${this.profiles.map((x) => x.token).join(', ') || 'none'})` : 'the camera has no media profile'}`,
        'config',
        false,
      );
    return p;
  }

  async readBatch(properties: ResolvedProperty[]): Promise<Map<string, ReadResult>> {
    const out = new Map<string, ReadResult>();
    // what the mapper itself remembers is read without the camera: the write reconciler's read-back of a
    // reboot must not fail (and repeat the reboot) because the camera went away to reboot
    let camera: Promise<OnvifCamera> | undefined;
    const cameraNow = () => {
      camera ??= this.ready();
      return camera;
    };
    // one SOAP call per kind per batch
    const cache = new Map<string, Promise<unknown>>();
    const once = <T>(key: string, f: () => Promise<T>): Promise<T> => {
      let v = cache.get(key) as Promise<T> | undefined;
      if (!v) {
        v = f();
        cache.set(key, v);
      }
      return v;
    };
    for (const p of properties) {
      const v = parseOnvifVisitor(p);
      if (!v.ok) {
        out.set(p.name, {
          ok: false,
          error: new DriverError(
            `${this.where} property ${p.name}: ${v.issues.map((i) => i.message).join('; ')}`,
            'config',
            false,
          ),
        });
        continue;
      }
      try {
        const value = await this.readDatum(
          MEMORY_DATA.has(v.value.datum) ? undefined : await cameraNow(),
          p,
          v.value,
          once,
        );
        out.set(p.name, { ok: true, value, timestamp: Date.now() });
        if (!MEMORY_DATA.has(v.value.datum)) this.unreachable = false;
      } catch (e) {
        const error = this.toDriverError(e, 'read', p.name);
        out.set(p.name, { ok: false, error });
        if (error.code === 'connection' || error.code === 'timeout') {
          // the camera is gone: the rest of the batch would wait for the same timeout
          for (const rest of properties) if (!out.has(rest.name)) out.set(rest.name, { ok: false, error });
          break;
        }
      }
    }
    return out;
  }

  private async readDatum(
    maybeCamera: OnvifCamera | undefined,
    p: ResolvedProperty,
    v: OnvifVisitor,
    once: <T>(key: string, f: () => Promise<T>) => Promise<T>,
  ): Promise<RawValue> {
    switch (v.datum) {
      case 'ptzMove':
      case 'ptzRelative':
        return this.memory.commands.get(p.name) ?? '';
      case 'lastFrameTime':
        return this.memory.lastFrameTime;
      case 'reboot':
        return p.type === 'BOOLEAN' ? this.memory.reboot : String(this.memory.reboot);
    }
    const camera = maybeCamera as OnvifCamera;
    const info = () => once('info', () => camera.getDeviceInformation());
    switch (v.datum) {
      case 'manufacturer':
      case 'model':
      case 'firmwareVersion':
      case 'serialNumber':
      case 'hardwareId':
        return (await info())[v.datum];
      case 'profiles':
        return JSON.stringify(this.profiles);
      case 'streamURI':
        return this.streamUri(camera, this.profileFor(v));
      case 'snapshotURI':
        return this.snapshotUri(camera, this.profileFor(v));
      case 'pan':
      case 'tilt':
      case 'zoom': {
        const prof = this.profileFor(v, true);
        return (await once(`status:${prof.token}`, () => camera.ptzStatus(prof.token)))[v.datum];
      }
      case 'ptzPosition': {
        const prof = this.profileFor(v, true);
        const s = await once(`status:${prof.token}`, () => camera.ptzStatus(prof.token));
        return JSON.stringify({ pan: s.pan, tilt: s.tilt, zoom: s.zoom, moveStatus: s.moveStatus });
      }
      case 'presets': {
        const prof = this.profileFor(v, true);
        return JSON.stringify(await once(`presets:${prof.token}`, () => camera.getPresets(prof.token)));
      }
      case 'preset': {
        const prof = this.profileFor(v, true);
        const [status, presets] = await Promise.all([
          once(`status:${prof.token}`, () => camera.ptzStatus(prof.token)),
          once(`presets:${prof.token}`, () => camera.getPresets(prof.token)),
        ]);
        const last = this.memory.lastGoto;
        const lastPreset = last === undefined ? undefined : this.findPreset(presets, last);
        if (last !== undefined && lastPreset && samePosition(lastPreset, status)) return last;
        return presets.find((x) => x.pan !== undefined && samePosition(x, status))?.name ?? '';
      }
      case 'setPreset': {
        const name = this.memory.lastSetPreset;
        if (name === undefined) return '';
        const prof = this.profileFor(v, true);
        const presets = await once(`presets:${prof.token}`, () => camera.getPresets(prof.token));
        const token = this.memory.saved.get(name);
        return presets.some((x) => x.token === token || x.name === name) ? name : '';
      }
      case 'snapshot':
        return this.snapshot(camera, p, v);
      case 'streamReachable': {
        const h = await this.describe(camera, this.profileFor(v), true);
        return h.ok;
      }
      case 'motion':
      case 'tamper':
        return this.eventState.get(v.datum) ?? false;
      case 'brightness':
      case 'contrast':
      case 'colorSaturation':
      case 'sharpness': {
        const vs = this.videoSource(v);
        const s = await once(`imaging:${vs}`, () => camera.getImagingSettings(vs));
        const key = IMAGING[v.datum] as ImagingKey;
        const value = s[key];
        if (value === undefined)
          throw new DriverError(`${this.where} property ${p.name}: the camera reports no ${key}`, 'unsupported', false);
        return value;
      }
      case 'saveFrame':
      case 'saveVideo': {
        const uri = await this.streamUri(camera, this.profileFor(v));
        this.media.ensure(p.name, v, uri, this.credentials());
        return JSON.stringify(this.media.status(p.name));
      }
    }
  }

  private videoSource(v: OnvifVisitor): string {
    const prof = this.profileFor(v);
    return prof.videoSourceToken ?? prof.token;
  }

  private findPreset(presets: PtzPreset[], tokenOrName: string): PtzPreset | undefined {
    const saved = this.memory.saved.get(tokenOrName);
    return (
      presets.find((x) => x.token === tokenOrName) ??
      (saved ? presets.find((x) => x.token === saved) : undefined) ??
      presets.find((x) => x.name === tokenOrName)
    );
  }

  private async streamUri(camera: OnvifCamera, prof: MediaProfile): Promise<string> {
    let uri = this.streamUris.get(prof.token);
    if (!uri) {
      uri = await camera.getStreamUri(prof.token);
      this.streamUris.set(prof.token, uri);
    }
    return uri;
  }

  private async snapshotUri(camera: OnvifCamera, prof: MediaProfile): Promise<string> {
    let uri = this.snapshotUris.get(prof.token);
    if (!uri) {
      uri = await camera.getSnapshotUri(prof.token);
      this.snapshotUris.set(prof.token, uri);
    }
    return uri;
  }

  /** Fetches a JPEG (answering a Basic or Digest challenge), publishes it, returns its metadata as JSON. */
  private async snapshot(camera: OnvifCamera, p: ResolvedProperty, v: OnvifVisitor): Promise<string> {
    const uri = await this.snapshotUri(camera, this.profileFor(v));
    const get = (auth?: string) =>
      fetch(uri, {
        headers: auth ? { Authorization: auth } : {},
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
        redirect: 'error',
      }).catch((e: Error & { cause?: { code?: string } }) => {
        throw new SoapError(
          e.name === 'TimeoutError'
            ? `snapshot ${uri}: no answer within ${this.cfg.timeoutMs} ms`
            : `snapshot ${uri}: ${e.cause?.code ?? e.message}`,
          e.name === 'TimeoutError' ? 'timeout' : 'connection',
        );
      });
    let res = await get();
    if (res.status === 401) {
      await res.body?.cancel().catch(() => undefined);
      const cred = this.credentials();
      const ch = parseChallenges(
        res.headers.get('www-authenticate') ? [res.headers.get('www-authenticate') as string] : [],
      );
      if (!cred || !ch)
        throw new SoapError(
          `snapshot ${uri}: HTTP 401 and ${cred ? 'no Basic or Digest challenge' : 'no userName/password configured'}`,
          'auth',
          401,
        );
      const u = new URL(uri);
      res = await get(authorization(ch, cred, 'GET', `${u.pathname}${u.search}`));
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel().catch(() => undefined);
        throw new SoapError(
          `snapshot ${uri}: the camera refused the credentials (HTTP ${res.status})`,
          'auth',
          res.status,
        );
      }
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new DriverError(
        `${this.where} property ${p.name}: snapshot ${uri} answered HTTP ${res.status}`,
        'exception',
        true,
      );
    }
    let jpeg: Buffer;
    try {
      jpeg = await readLimitedBytes(res, v.maxBytes, `snapshot ${uri}`);
    } catch (e) {
      if (e instanceof SoapError)
        throw new DriverError(
          `${this.where} property ${p.name}: ${e.message} (visitor maxBytes)`,
          'out-of-range',
          false,
        );
      throw e;
    }
    const dims = jpegInfo(jpeg);
    if (!dims)
      throw new DriverError(
        `${this.where} property ${p.name}: snapshot ${uri} is not a JPEG (${jpeg.length} bytes)`,
        'exception',
        true,
      );
    const time = Date.now();
    this.memory.lastFrameTime = time;
    const topic = mediaTopic(this.device.id, p.name);
    if (this.ctx.publish) await this.ctx.publish(topic, jpeg);
    return JSON.stringify({ time, bytes: jpeg.length, width: dims.width, height: dims.height, topic });
  }

  private async describe(camera: OnvifCamera, prof: MediaProfile, fresh = false) {
    const now = Date.now();
    if (!fresh && this.lastHealth && now - this.lastHealth.at < HEALTH_EVERY_MS) return this.lastHealth;
    const uri = await this.streamUri(camera, prof);
    const r = await rtspDescribe(uri, this.credentials(), this.cfg.timeoutMs);
    if (!r.ok && this.lastHealth?.ok !== false) this.ctx.logger.warn({ uri, reason: r.reason }, 'stream not reachable');
    this.lastHealth = r.reason !== undefined ? { at: now, ok: r.ok, reason: r.reason } : { at: now, ok: r.ok };
    return this.lastHealth;
  }

  async write(p: ResolvedProperty, value: RawValue): Promise<void> {
    rejectReadOnly(this.device.id, p);
    const v = parseOnvifVisitor(p);
    if (!v.ok)
      throw new DriverError(
        `${this.where} property ${p.name}: ${v.issues.map((i) => i.message).join('; ')}`,
        'config',
        false,
      );
    const camera = await this.ready();
    try {
      await this.writeDatum(camera, p, v.value, value);
    } catch (e) {
      throw this.toDriverError(e, 'write', p.name);
    }
  }

  private bad(p: ResolvedProperty, why: string): DriverError {
    return new DriverError(`${this.where} property ${p.name}: ${why}`, 'out-of-range', false);
  }

  private numberOf(p: ResolvedProperty, value: RawValue, min: number, max: number): number {
    const n = typeof value === 'number' ? value : Number.NaN;
    if (!Number.isFinite(n)) throw this.bad(p, `${JSON.stringify(value)} is not a number`);
    if (n < min || n > max) throw this.bad(p, `${n} is outside ${min}..${max}`);
    return n;
  }

  private vectorOf(
    p: ResolvedProperty,
    value: RawValue,
  ): { pan?: number; tilt?: number; zoom?: number; timeoutMs?: number } {
    let o: unknown;
    try {
      o = typeof value === 'string' ? JSON.parse(value) : undefined;
    } catch {
      o = undefined;
    }
    if (!o || typeof o !== 'object')
      throw this.bad(p, `${JSON.stringify(value)} is not JSON like {"pan":0.1,"tilt":0,"zoom":0}`);
    const out: { pan?: number; tilt?: number; zoom?: number; timeoutMs?: number } = {};
    for (const k of ['pan', 'tilt', 'zoom', 'timeoutMs'] as const) {
      const x = (o as Record<string, unknown>)[k];
      if (x === undefined) continue;
      if (typeof x !== 'number' || !Number.isFinite(x)) throw this.bad(p, `${k} ${JSON.stringify(x)} is not a number`);
      out[k] = x;
    }
    return out;
  }

  private async writeDatum(camera: OnvifCamera, p: ResolvedProperty, v: OnvifVisitor, value: RawValue): Promise<void> {
    switch (v.datum) {
      case 'pan':
      case 'tilt':
      case 'zoom': {
        const n = this.numberOf(p, value, v.datum === 'zoom' ? 0 : -1, 1);
        const prof = this.profileFor(v, true);
        const now = await camera.ptzStatus(prof.token);
        const target = { pan: now.pan, tilt: now.tilt, zoom: now.zoom, [v.datum]: n };
        await camera.absoluteMove(prof.token, target);
        return;
      }
      case 'ptzPosition': {
        const prof = this.profileFor(v, true);
        const now = await camera.ptzStatus(prof.token);
        const want = this.vectorOf(p, value);
        await camera.absoluteMove(prof.token, {
          pan: want.pan ?? now.pan,
          tilt: want.tilt ?? now.tilt,
          zoom: want.zoom ?? now.zoom,
        });
        return;
      }
      case 'ptzMove': {
        const prof = this.profileFor(v, true);
        if (value === 'stop') {
          await camera.stop(prof.token);
          this.memory.commands.set(p.name, value);
          return;
        }
        const vel = this.vectorOf(p, value);
        for (const k of ['pan', 'tilt', 'zoom'] as const)
          if (vel[k] !== undefined && Math.abs(vel[k] as number) > 1)
            throw this.bad(p, `${k} velocity ${vel[k]} is outside -1..1`);
        await camera.continuousMove(
          prof.token,
          { pan: vel.pan ?? 0, tilt: vel.tilt ?? 0, zoom: vel.zoom ?? 0 },
          vel.timeoutMs,
        );
        this.memory.commands.set(p.name, String(value));
        return;
      }
      case 'ptzRelative': {
        const prof = this.profileFor(v, true);
        const by = this.vectorOf(p, value);
        await camera.relativeMove(prof.token, by);
        this.memory.commands.set(p.name, String(value));
        return;
      }
      case 'preset': {
        if (typeof value !== 'string' || value === '') throw this.bad(p, 'give a preset name or token');
        const prof = this.profileFor(v, true);
        const presets = await camera.getPresets(prof.token);
        const preset = this.findPreset(presets, value);
        if (!preset)
          throw this.bad(
            p,
            `the camera has no preset "${value}" (presets: ${presets.map((x) => x.name || x.token).join(', ') || 'none'})`,
          );
        await camera.gotoPreset(prof.token, preset.token);
        await this.confirmAt(camera, prof, preset, p);
        this.memory.lastGoto = value;
        return;
      }
      case 'setPreset': {
        if (typeof value !== 'string' || value === '') throw this.bad(p, 'give the new preset a name');
        const prof = this.profileFor(v, true);
        const existing = (await camera.getPresets(prof.token)).find((x) => x.name === value);
        const token = await camera.setPreset(prof.token, value, existing?.token);
        this.memory.saved.set(value, token);
        this.memory.lastSetPreset = value;
        return;
      }
      case 'reboot': {
        const on = value === true || value === 'true';
        if (on) {
          try {
            const msg = await camera.systemReboot();
            this.ctx.logger.warn({ message: msg }, 'camera reboot requested');
          } catch (e) {
            // a camera that drops the connection before its reply got through is rebooting: sending the
            // request again would reboot it twice
            if (!(e instanceof SoapError) || (e.kind !== 'connection' && e.kind !== 'timeout')) throw e;
            this.ctx.logger.warn({ err: e.message }, 'camera reboot requested; no reply (it is rebooting)');
          }
        }
        this.memory.reboot = on;
        return;
      }
      case 'brightness':
      case 'contrast':
      case 'colorSaturation':
      case 'sharpness': {
        const n = this.numberOf(p, value, p.minimum ?? Number.NEGATIVE_INFINITY, p.maximum ?? Number.POSITIVE_INFINITY);
        await camera.setImagingSettings(this.videoSource(v), { [IMAGING[v.datum] as ImagingKey]: n });
        return;
      }
      case 'saveFrame':
      case 'saveVideo': {
        const uri = await this.streamUri(camera, this.profileFor(v));
        this.media.start(p.name, v, uri, this.credentials());
        return;
      }
      default:
        throw new DriverError(`${this.where} property ${p.name}: ${v.datum} cannot be written`, 'config', false);
    }
  }

  /** GotoPreset is confirmed by GetStatus (a camera may answer before it moves, or not move at all). */
  private async confirmAt(
    camera: OnvifCamera,
    prof: MediaProfile,
    preset: PtzPreset,
    p: ResolvedProperty,
  ): Promise<void> {
    if (preset.pan === undefined) return;
    const deadline = Date.now() + this.cfg.timeoutMs;
    let last: PtzPosition | undefined;
    for (let i = 0; ; i++) {
      last = await camera.ptzStatus(prof.token);
      if (samePosition(preset, last) && last.moveStatus !== 'MOVING') return;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** i, 500)));
    }
    throw new DriverError(
      `${this.where} property ${p.name}: GotoPreset ${preset.name || preset.token} answered, but the camera is at pan ${last.pan} tilt ${last.tilt} zoom ${last.zoom}, not at the preset`,
      'exception',
      true,
    );
  }

  async subscribe(
    properties: ResolvedProperty[],
    onValue: (property: string, value: RawValue, timestamp: number) => void,
  ): Promise<() => Promise<void>> {
    const camera = await this.ready();
    const wanted: Wanted[] = [];
    for (const p of properties) {
      const v = parseOnvifVisitor(p);
      if (v.ok && EVENT_DATA.includes(v.value.datum)) wanted.push({ p, datum: v.value.datum });
    }
    if (wanted.length === 0) return async () => undefined;
    const termination = Math.max(60, this.cfg.eventPullSeconds * 4);
    let address: string;
    try {
      address = await camera.createPullPoint(termination);
    } catch (e) {
      throw this.toDriverError(e, 'CreatePullPointSubscription');
    }
    let running = true;
    let renewedAt = Date.now();
    const stopPull = new AbortController();
    const loop = (async () => {
      while (running && !this.ctx.signal.aborted) {
        try {
          const events = await camera.pullMessages(address, this.cfg.eventPullSeconds, 100, stopPull.signal);
          for (const ev of events) this.onEvent(ev, wanted, onValue);
          if (Date.now() - renewedAt > (termination * 1000) / 2) {
            await camera.renew(address, termination);
            renewedAt = Date.now();
          }
        } catch (e) {
          if (!running) return;
          this.ctx.logger.warn({ err: (e as Error).message }, 'event pull failed; subscribing again');
          if (!running) return;
          await new Promise((r) => setTimeout(r, 1000));
          try {
            address = await camera.createPullPoint(termination);
            renewedAt = Date.now();
          } catch {
            // the camera is away: the read cycle notices and reconnects
          }
        }
      }
    })();
    return async () => {
      running = false;
      stopPull.abort();
      await camera.unsubscribe(address).catch(() => undefined);
      await loop;
    };
  }

  private onEvent(
    ev: CameraEvent,
    wanted: Wanted[],
    onValue: (property: string, value: RawValue, timestamp: number) => void,
  ): void {
    const datum: OnvifDatum | undefined = /motion/i.test(ev.topic)
      ? 'motion'
      : /tamper|scenechange/i.test(ev.topic)
        ? 'tamper'
        : undefined;
    if (!datum) return;
    const raw = ev.data.State ?? ev.data.IsMotion ?? ev.data.IsTamper ?? Object.values(ev.data)[0];
    if (raw === undefined) return;
    const on = raw === 'true' || raw === '1';
    this.eventState.set(datum, on);
    const ts = ev.time ? Date.parse(ev.time) || Date.now() : Date.now();
    for (const w of wanted) if (w.datum === datum) onValue(w.p.name, on, ts);
  }

  async health(): Promise<DeviceHealth> {
    if (!this.connected || !this.camera) return 'offline';
    if (this.authProblem) return 'unhealthy';
    if (this.unreachable) return 'offline';
    const prof = this.profiles[0];
    if (!prof) return 'unhealthy';
    try {
      const h = await this.describe(this.camera, prof);
      if (h.ok) return 'online';
      // the RTSP port refusing while SOAP answers is an unhealthy camera; SOAP gone too is offline
      await this.camera.getDeviceInformation();
      return 'unhealthy';
    } catch (e) {
      const err = this.toDriverError(e, 'health');
      return err.code === 'connection' || err.code === 'timeout' ? 'offline' : 'unhealthy';
    }
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    this.camera = undefined;
    this.authProblem = undefined;
    this.lastHealth = undefined;
    await this.media.stopAll();
  }
}
