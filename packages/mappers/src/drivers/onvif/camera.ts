// An ONVIF camera client (issue 13), the operations the mapper uses, each one SOAP call: device service
// (ONVIF Core: GetSystemDateAndTime, GetCapabilities, GetDeviceInformation, SystemReboot), media (Media 1.0:
// GetProfiles, GetStreamUri for RTP over RTSP over TCP, GetSnapshotUri), PTZ (PTZ 2.0: GetStatus, Absolute/
// Relative/ContinuousMove, Stop, GetPresets, SetPreset, GotoPreset), imaging (Imaging 2.0: Get/SetImagingSettings)
// and events (Event 1.0 PullPoint: CreatePullPointSubscription, PullMessages, Unsubscribe).
// Why not the npm `onvif` package: docs/decisions.md, issue 13.
import { at, attr, type Credentials, list, NS, SoapError, soapCall, text, xmlEscape } from './soap.js';

export interface CameraServices {
  device: string;
  media?: string;
  ptz?: string;
  imaging?: string;
  events?: string;
}

export interface DeviceInformation {
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  serialNumber: string;
  hardwareId: string;
}

export interface MediaProfile {
  token: string;
  name: string;
  encoding?: string;
  width?: number;
  height?: number;
  fps?: number;
  videoSourceToken?: string;
  ptz: boolean;
}

export interface PtzPosition {
  pan: number;
  tilt: number;
  zoom: number;
  /** MoveStatus: IDLE, MOVING or UNKNOWN (a camera that leaves it out or malformed) */
  moveStatus: string;
}

export interface PtzPreset {
  token: string;
  name: string;
  pan?: number;
  tilt?: number;
  zoom?: number;
}

export interface CameraEvent {
  topic: string;
  /** Data SimpleItems */
  data: Record<string, string>;
  /** Source SimpleItems */
  source: Record<string, string>;
  time?: string;
}

export const IMAGING_KEYS = ['Brightness', 'Contrast', 'ColorSaturation', 'Sharpness'] as const;
export type ImagingKey = (typeof IMAGING_KEYS)[number];

const num = (v: unknown): number | undefined => {
  const t = text(v);
  if (t === undefined || t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
};

export class OnvifCamera {
  services: CameraServices;
  clockOffsetMs = 0;

  constructor(
    readonly deviceUrl: string,
    private readonly credentials: () => Credentials | undefined,
    private readonly timeoutMs: number,
  ) {
    this.services = { device: deviceUrl };
  }

  private call(
    service: string | undefined,
    ns: string,
    op: string,
    body: string,
    timeoutMs = this.timeoutMs,
    signal?: AbortSignal,
  ) {
    if (!service) throw new SoapError(`${op}: the camera offers no service for it`, 'fault');
    const cred = this.credentials();
    return soapCall(service, `${ns}/${op}`, body, {
      timeoutMs,
      clockOffsetMs: this.clockOffsetMs,
      ...(cred ? { credentials: cred } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * The camera's clock, to sign later calls with a Created time it accepts. Asked signed (ipycam refuses it
   * unsigned, against ONVIF Core §5.9.4.1), then unsigned; a camera that refuses both leaves the offset at 0.
   */
  async syncClock(): Promise<void> {
    const body = '<tds:GetSystemDateAndTime/>';
    const before = Date.now();
    let r: Record<string, unknown>;
    try {
      r = await this.call(this.deviceUrl, NS.tds, 'GetSystemDateAndTime', body);
    } catch (e) {
      if (!(e instanceof SoapError) || e.kind !== 'auth') throw e;
      r = await soapCall(this.deviceUrl, `${NS.tds}/GetSystemDateAndTime`, body, { timeoutMs: this.timeoutMs });
    }
    const utc = at(r, 'SystemDateAndTime', 'UTCDateTime');
    const [y, mo, d, h, mi, s] = [
      at(utc, 'Date', 'Year'),
      at(utc, 'Date', 'Month'),
      at(utc, 'Date', 'Day'),
      at(utc, 'Time', 'Hour'),
      at(utc, 'Time', 'Minute'),
      at(utc, 'Time', 'Second'),
    ].map(num);
    if ([y, mo, d, h, mi, s].some((v) => v === undefined)) return;
    const camera = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
    const offset = camera - Math.round((before + Date.now()) / 2);
    // within 2 s is the same second on both clocks: no offset, so a token is never signed in the past for nothing
    this.clockOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
  }

  async getCapabilities(): Promise<CameraServices> {
    const r = await this.call(
      this.deviceUrl,
      NS.tds,
      'GetCapabilities',
      '<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>',
    );
    const caps = at(r, 'Capabilities');
    const x = (k: string) => text(at(caps, k, 'XAddr')) || undefined;
    const s: CameraServices = { device: this.deviceUrl };
    const media = x('Media');
    const ptz = x('PTZ');
    const imaging = x('Imaging');
    const events = x('Events');
    if (media) s.media = media;
    if (ptz) s.ptz = ptz;
    if (imaging) s.imaging = imaging;
    if (events) s.events = events;
    this.services = s;
    return s;
  }

  async getDeviceInformation(): Promise<DeviceInformation> {
    const r = await this.call(this.deviceUrl, NS.tds, 'GetDeviceInformation', '<tds:GetDeviceInformation/>');
    const t = (k: string) => text(at(r, k)) ?? '';
    return {
      manufacturer: t('Manufacturer'),
      model: t('Model'),
      firmwareVersion: t('FirmwareVersion'),
      serialNumber: t('SerialNumber'),
      hardwareId: t('HardwareId'),
    };
  }

  async getProfiles(): Promise<MediaProfile[]> {
    const r = await this.call(this.services.media, NS.trt, 'GetProfiles', '<trt:GetProfiles/>');
    return list(at(r, 'Profiles')).map((p) => {
      const vec = at(p, 'VideoEncoderConfiguration');
      const profile: MediaProfile = {
        token: attr(p, 'token') ?? '',
        name: text(at(p, 'Name')) ?? '',
        ptz: at(p, 'PTZConfiguration') !== undefined,
      };
      const encoding = text(at(vec, 'Encoding'));
      const width = num(at(vec, 'Resolution', 'Width'));
      const height = num(at(vec, 'Resolution', 'Height'));
      const fps = num(at(vec, 'RateControl', 'FrameRateLimit'));
      const vs = text(at(p, 'VideoSourceConfiguration', 'SourceToken'));
      if (encoding) profile.encoding = encoding;
      if (width !== undefined) profile.width = width;
      if (height !== undefined) profile.height = height;
      if (fps !== undefined) profile.fps = fps;
      if (vs) profile.videoSourceToken = vs;
      return profile;
    });
  }

  /** RTP over RTSP over TCP (ONVIF Media 1.0 §5.15.1: Transport Protocol RTSP). */
  async getStreamUri(profile: string): Promise<string> {
    const r = await this.call(
      this.services.media,
      NS.trt,
      'GetStreamUri',
      `<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>${xmlEscape(profile)}</trt:ProfileToken></trt:GetStreamUri>`,
    );
    const uri = text(at(r, 'MediaUri', 'Uri'));
    if (!uri) throw new SoapError('GetStreamUri: the reply has no MediaUri/Uri', 'malformed');
    return uri;
  }

  async getSnapshotUri(profile: string): Promise<string> {
    const r = await this.call(
      this.services.media,
      NS.trt,
      'GetSnapshotUri',
      `<trt:GetSnapshotUri><trt:ProfileToken>${xmlEscape(profile)}</trt:ProfileToken></trt:GetSnapshotUri>`,
    );
    const uri = text(at(r, 'MediaUri', 'Uri'));
    if (!uri) throw new SoapError('GetSnapshotUri: the reply has no MediaUri/Uri', 'malformed');
    return uri;
  }

  async ptzStatus(profile: string): Promise<PtzPosition> {
    const r = await this.call(
      this.services.ptz,
      NS.tptz,
      'GetStatus',
      `<tptz:GetStatus><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken></tptz:GetStatus>`,
    );
    const st = at(r, 'PTZStatus');
    const pos = at(st, 'Position');
    const pan = num(attr(at(pos, 'PanTilt'), 'x'));
    const tilt = num(attr(at(pos, 'PanTilt'), 'y'));
    const zoom = num(attr(at(pos, 'Zoom'), 'x'));
    if (pan === undefined || tilt === undefined)
      throw new SoapError('GetStatus: the reply has no Position/PanTilt x and y', 'malformed');
    const ms = text(at(st, 'MoveStatus', 'PanTilt')) ?? text(at(st, 'MoveStatus')) ?? '';
    return { pan, tilt, zoom: zoom ?? 0, moveStatus: /^(IDLE|MOVING|UNKNOWN)$/.test(ms) ? ms : 'UNKNOWN' };
  }

  private vector(tag: string, v: { pan?: number; tilt?: number; zoom?: number }): string {
    let s = `<tptz:${tag}>`;
    if (v.pan !== undefined || v.tilt !== undefined) s += `<tt:PanTilt x="${v.pan ?? 0}" y="${v.tilt ?? 0}"/>`;
    if (v.zoom !== undefined) s += `<tt:Zoom x="${v.zoom}"/>`;
    return `${s}</tptz:${tag}>`;
  }

  async absoluteMove(profile: string, pos: { pan?: number; tilt?: number; zoom?: number }): Promise<void> {
    await this.call(
      this.services.ptz,
      NS.tptz,
      'AbsoluteMove',
      `<tptz:AbsoluteMove><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken>${this.vector('Position', pos)}</tptz:AbsoluteMove>`,
    );
  }

  async relativeMove(profile: string, by: { pan?: number; tilt?: number; zoom?: number }): Promise<void> {
    await this.call(
      this.services.ptz,
      NS.tptz,
      'RelativeMove',
      `<tptz:RelativeMove><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken>${this.vector('Translation', by)}</tptz:RelativeMove>`,
    );
  }

  async continuousMove(
    profile: string,
    velocity: { pan?: number; tilt?: number; zoom?: number },
    timeoutMs?: number,
  ): Promise<void> {
    const timeout = timeoutMs ? `<tptz:Timeout>PT${(timeoutMs / 1000).toFixed(3)}S</tptz:Timeout>` : '';
    await this.call(
      this.services.ptz,
      NS.tptz,
      'ContinuousMove',
      `<tptz:ContinuousMove><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken>${this.vector('Velocity', velocity)}${timeout}</tptz:ContinuousMove>`,
    );
  }

  async stop(profile: string): Promise<void> {
    await this.call(
      this.services.ptz,
      NS.tptz,
      'Stop',
      `<tptz:Stop><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken><tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>`,
    );
  }

  async getPresets(profile: string): Promise<PtzPreset[]> {
    const r = await this.call(
      this.services.ptz,
      NS.tptz,
      'GetPresets',
      `<tptz:GetPresets><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken></tptz:GetPresets>`,
    );
    return list(at(r, 'Preset')).map((p) => {
      const preset: PtzPreset = { token: attr(p, 'token') ?? '', name: text(at(p, 'Name')) ?? '' };
      const pt = at(p, 'PTZPosition', 'PanTilt');
      const pan = num(attr(pt, 'x'));
      const tilt = num(attr(pt, 'y'));
      const zoom = num(attr(at(p, 'PTZPosition', 'Zoom'), 'x'));
      if (pan !== undefined) preset.pan = pan;
      if (tilt !== undefined) preset.tilt = tilt;
      if (zoom !== undefined) preset.zoom = zoom;
      return preset;
    });
  }

  /** Saves the current position as a preset; returns the token the camera gave it (it may ignore ours). */
  async setPreset(profile: string, name: string, token?: string): Promise<string> {
    const r = await this.call(
      this.services.ptz,
      NS.tptz,
      'SetPreset',
      `<tptz:SetPreset><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken><tptz:PresetName>${xmlEscape(name)}</tptz:PresetName>${token ? `<tptz:PresetToken>${xmlEscape(token)}</tptz:PresetToken>` : ''}</tptz:SetPreset>`,
    );
    const t = text(at(r, 'PresetToken'));
    if (!t) throw new SoapError('SetPreset: the reply has no PresetToken', 'malformed');
    return t;
  }

  async gotoPreset(profile: string, token: string): Promise<void> {
    await this.call(
      this.services.ptz,
      NS.tptz,
      'GotoPreset',
      `<tptz:GotoPreset><tptz:ProfileToken>${xmlEscape(profile)}</tptz:ProfileToken><tptz:PresetToken>${xmlEscape(token)}</tptz:PresetToken></tptz:GotoPreset>`,
    );
  }

  async systemReboot(): Promise<string> {
    const r = await this.call(this.deviceUrl, NS.tds, 'SystemReboot', '<tds:SystemReboot/>');
    return text(at(r, 'Message')) ?? '';
  }

  async getImagingSettings(videoSource: string): Promise<Partial<Record<ImagingKey, number>>> {
    const r = await this.call(
      this.services.imaging,
      NS.timg,
      'GetImagingSettings',
      `<timg:GetImagingSettings><timg:VideoSourceToken>${xmlEscape(videoSource)}</timg:VideoSourceToken></timg:GetImagingSettings>`,
    );
    const s = at(r, 'ImagingSettings');
    const out: Partial<Record<ImagingKey, number>> = {};
    for (const k of IMAGING_KEYS) {
      const v = num(at(s, k));
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  async setImagingSettings(videoSource: string, settings: Partial<Record<ImagingKey, number>>): Promise<void> {
    const items = IMAGING_KEYS.filter((k) => settings[k] !== undefined)
      .map((k) => `<tt:${k}>${settings[k]}</tt:${k}>`)
      .join('');
    await this.call(
      this.services.imaging,
      NS.timg,
      'SetImagingSettings',
      `<timg:SetImagingSettings><timg:VideoSourceToken>${xmlEscape(videoSource)}</timg:VideoSourceToken><timg:ImagingSettings>${items}</timg:ImagingSettings><timg:ForcePersistence>true</timg:ForcePersistence></timg:SetImagingSettings>`,
    );
  }

  /** Returns the pull point's address. */
  async createPullPoint(terminationSeconds: number): Promise<string> {
    const r = await this.call(
      this.services.events,
      NS.tev,
      'EventPortType/CreatePullPointSubscriptionRequest',
      `<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT${terminationSeconds}S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`,
    );
    const address = text(at(r, 'SubscriptionReference', 'Address'));
    if (!address) throw new SoapError('CreatePullPointSubscription: no SubscriptionReference/Address', 'malformed');
    return address;
  }

  /** A long poll; `signal` ends it early (unsubscribing must not wait for the camera's timeout). */
  async pullMessages(
    address: string,
    timeoutSeconds: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<CameraEvent[]> {
    const r = await this.call(
      address,
      NS.tev,
      'PullPointSubscription/PullMessagesRequest',
      `<tev:PullMessages><tev:Timeout>PT${timeoutSeconds}S</tev:Timeout><tev:MessageLimit>${limit}</tev:MessageLimit></tev:PullMessages>`,
      this.timeoutMs + timeoutSeconds * 1000,
      signal,
    );
    return list(at(r, 'NotificationMessage')).map((m) => {
      const items = (node: unknown) =>
        Object.fromEntries(list(at(node, 'SimpleItem')).map((i) => [attr(i, 'Name') ?? '', attr(i, 'Value') ?? '']));
      const msg = at(m, 'Message', 'Message');
      const ev: CameraEvent = {
        topic: (text(at(m, 'Topic')) ?? '').replace(/^[\w-]+:/, ''),
        data: items(at(msg, 'Data')),
        source: items(at(msg, 'Source')),
      };
      const time = attr(msg, 'UtcTime');
      if (time) ev.time = time;
      return ev;
    });
  }

  async renew(address: string, terminationSeconds: number): Promise<void> {
    await this.call(
      address,
      NS.wsnt,
      'SubscriptionManager/RenewRequest',
      `<wsnt:Renew><wsnt:TerminationTime>PT${terminationSeconds}S</wsnt:TerminationTime></wsnt:Renew>`,
    );
  }

  async unsubscribe(address: string): Promise<void> {
    await this.call(address, NS.wsnt, 'SubscriptionManager/UnsubscribeRequest', '<wsnt:Unsubscribe/>');
  }
}
