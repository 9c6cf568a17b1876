// The one home of ONVIF configuration (issue 13; docs/onvif.md is the user-facing table): a device's protocol
// configData -> OnvifProtocolConfig (camera address, user, password file, timeouts), a property's visitor
// configData -> OnvifVisitor (which camera datum the property carries, and the media settings of snapshots,
// saveFrame and saveVideo), and validateOnvifDevice, which `edgetwin validate`/`apply` and the mapper both run.
// Pure: no network, no XML (readPasswordFile reads the password file the config names).
//
// KubeEdge's v1.17 onvif-mapper keys keep their meaning (reference §2.4): protocol url (host:port),
// userName, password (a FILE holding the password); visitor dataType (string|stream), format, outputDir,
// frameCount, frameInterval (nanoseconds), videoNum; properties named getURI, saveFrame, saveVideo. The
// sample repeats url/userName/password in each visitor: accepted and ignored (the protocol's win).

import { readFileSync } from 'node:fs';
import {
  type ConfigData,
  type ConfigIssue,
  type ConfigParse,
  ConfigReader,
  deviceConfigIssues,
  type PropertyType,
  type ResolvedDevice,
  type ResolvedProperty,
} from '@edgetwin/api';

/** What a property can carry, by visitor `data` (default: the property's name when it is one of these). */
export const ONVIF_DATA = {
  streamURI: { type: 'STRING', write: false },
  snapshotURI: { type: 'STRING', write: false },
  manufacturer: { type: 'STRING', write: false },
  model: { type: 'STRING', write: false },
  firmwareVersion: { type: 'STRING', write: false },
  serialNumber: { type: 'STRING', write: false },
  hardwareId: { type: 'STRING', write: false },
  /** JSON: every profile's token, name, encoding, resolution, frame rate, PTZ */
  profiles: { type: 'STRING', write: false },
  pan: { type: 'DOUBLE', write: true },
  tilt: { type: 'DOUBLE', write: true },
  zoom: { type: 'DOUBLE', write: true },
  /** JSON {pan, tilt, zoom, moving}; a write of JSON {pan?, tilt?, zoom?} is an AbsoluteMove */
  ptzPosition: { type: 'STRING', write: true },
  /** JSON {pan, tilt, zoom, timeoutMs?}: ContinuousMove (velocities -1..1); a write of "stop" stops */
  ptzMove: { type: 'STRING', write: true },
  /** JSON {pan, tilt, zoom}: RelativeMove by a translation */
  ptzRelative: { type: 'STRING', write: true },
  /** write a preset token or name: GotoPreset, confirmed with GetStatus; read: the preset the camera is at */
  preset: { type: 'STRING', write: true },
  /** write a name: SetPreset at the current position (the token the camera returns is kept); read: that name */
  setPreset: { type: 'STRING', write: true },
  /** JSON list of {token, name, pan, tilt, zoom} */
  presets: { type: 'STRING', write: false },
  /** a JPEG fetched from the snapshot URI and published on the snapshot topic; the twin gets its metadata */
  snapshot: { type: 'STRING', write: true },
  /** RTSP DESCRIBE of the stream URI answers 200 */
  streamReachable: { type: 'BOOLEAN', write: false },
  /** time (Unix ms) of the last frame the mapper got from the camera (snapshot, saveFrame or saveVideo) */
  lastFrameTime: { type: 'INT', write: false },
  /** a write of true (or any value but false) sends SystemReboot */
  reboot: { type: 'BOOLEAN', write: true },
  /** events (PullPoint subscription), reported on change */
  motion: { type: 'BOOLEAN', write: false },
  tamper: { type: 'BOOLEAN', write: false },
  /** imaging settings of the profile's video source */
  brightness: { type: 'DOUBLE', write: true },
  contrast: { type: 'DOUBLE', write: true },
  colorSaturation: { type: 'DOUBLE', write: true },
  sharpness: { type: 'DOUBLE', write: true },
  /** frames/videos written through ffmpeg into outputDir (KubeEdge's STREAM properties); read: JSON status */
  saveFrame: { type: 'STREAM', write: true },
  saveVideo: { type: 'STREAM', write: true },
} as const satisfies Record<string, { type: PropertyType; write: boolean }>;
export type OnvifDatum = keyof typeof ONVIF_DATA;

/** KubeEdge's property names and other spellings users write. */
const DATA_ALIASES: Record<string, OnvifDatum> = {
  geturi: 'streamURI',
  streamuri: 'streamURI',
  rtspuri: 'streamURI',
  snapshoturi: 'snapshotURI',
  serial: 'serialNumber',
  firmware: 'firmwareVersion',
  gotopreset: 'preset',
  savepreset: 'setPreset',
  systemreboot: 'reboot',
  saturation: 'colorSaturation',
};

export const EVENT_DATA: readonly OnvifDatum[] = ['motion', 'tamper'];
export const IMAGING_DATA: readonly OnvifDatum[] = ['brightness', 'contrast', 'colorSaturation', 'sharpness'];
export const MEDIA_DATA: readonly OnvifDatum[] = ['saveFrame', 'saveVideo'];

export interface OnvifProtocolConfig {
  /** the device service, e.g. http://192.168.1.64:80/onvif/device_service (from url host:port) */
  deviceUrl: string;
  userName?: string;
  passwordFile?: string;
  /** one SOAP/HTTP/RTSP request (ms) */
  timeoutMs: number;
  /** seconds between PullMessages calls of the event subscription (its long-poll timeout) */
  eventPullSeconds: number;
}

export interface RetentionLimits {
  maxFiles: number;
  maxBytes: number;
  /** 0: no age limit */
  maxAgeMs: number;
}

export interface OnvifVisitor {
  datum: OnvifDatum;
  /** the media profile token (default: the camera's first profile) */
  profile?: string;
  /** snapshot: largest JPEG accepted (bytes) */
  maxBytes: number;
  /** saveFrame/saveVideo */
  format: string;
  outputDir?: string;
  frameCount: number;
  /** between saved frames, in nanoseconds (KubeEdge's unit) */
  frameIntervalNs: number;
  videoNum: number;
  retention: RetentionLimits;
  /** ffmpeg run limit for one saveFrame/saveVideo job (ms) */
  jobTimeoutMs: number;
}

export const ONVIF_DEFAULT_TIMEOUT_MS = 5000;
export const ONVIF_DEFAULT_SNAPSHOT_MAX_BYTES = 1024 * 1024;
/** the edge broker's own limit on a message is larger; a JPEG over this is refused before it is published */
export const ONVIF_SNAPSHOT_MAX_BYTES_LIMIT = 8 * 1024 * 1024;
export const ONVIF_DEFAULT_RETAIN_FILES = 100;
export const ONVIF_DEFAULT_RETAIN_BYTES = 512 * 1024 * 1024;
const FRAME_FORMATS = ['jpg', 'jpeg', 'png'] as const;
const VIDEO_FORMATS = ['mp4', 'mkv', 'avi'] as const;

/** The datum a property carries (visitor `data`, else its name), or undefined. */
export function onvifDatum(name: string): OnvifDatum | undefined {
  if (name in ONVIF_DATA) return name as OnvifDatum;
  const lower = name.toLowerCase();
  const direct = (Object.keys(ONVIF_DATA) as OnvifDatum[]).find((k) => k.toLowerCase() === lower);
  return direct ?? DATA_ALIASES[lower];
}

/**
 * `host:port` (KubeEdge's form), `host`, or a full http(s) URL of the device service. A bare address gets the
 * ONVIF default path /onvif/device_service.
 */
export function deviceServiceUrl(url: string): string | undefined {
  const text = url.trim();
  const withScheme = /^https?:\/\//i.test(text) ? text : `http://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (!u.hostname || u.username || u.password) return undefined;
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/onvif/device_service';
  return u.toString();
}

export function parseOnvifProtocol(config: ConfigData): ConfigParse<OnvifProtocolConfig> {
  const r = new ConfigReader(config);
  const url = r.string('url') ?? '';
  let deviceUrl = '';
  if (!url) r.problem('url', 'is missing (the camera, host:port such as 192.168.1.64:80, or its device service URL)');
  else {
    deviceUrl = deviceServiceUrl(url) ?? '';
    if (!deviceUrl)
      r.problem('url', `"${url}" is not host:port or an http(s) URL (credentials go in userName and password)`);
  }
  const userName = r.string('userName');
  const password = r.string('password');
  if (userName !== undefined) {
    if (password === undefined)
      r.problem('password', 'is missing: with userName, password names a file that holds the password');
    else if (!password.startsWith('/') && !password.startsWith('./') && !password.startsWith('../'))
      r.problem(
        'password',
        'must be the path of a file holding the password (absolute, or ./relative), never the password itself',
      );
  } else if (password !== undefined) r.problem('password', 'is given without userName');
  const timeoutMs = r.int('timeout', ONVIF_DEFAULT_TIMEOUT_MS, 100, 120_000);
  const eventPullSeconds = r.int('eventPullSeconds', 5, 1, 60);
  return r.result(() => {
    const c: OnvifProtocolConfig = { deviceUrl, timeoutMs, eventPullSeconds };
    if (userName !== undefined) c.userName = userName;
    if (password !== undefined) c.passwordFile = password;
    return c;
  });
}

export function parseOnvifVisitor(
  prop: Pick<ResolvedProperty, 'name' | 'visitor' | 'accessMode' | 'type'>,
): ConfigParse<OnvifVisitor> {
  const r = new ConfigReader(prop.visitor, prop.name);
  const dataKey = r.string('data');
  const datum = onvifDatum(dataKey ?? prop.name);
  const dataType = r.oneOf('dataType', ['string', 'stream', 'int', 'float', 'double', 'boolean'] as const);
  if (!datum)
    r.problem(
      dataKey !== undefined ? 'data' : undefined,
      `${dataKey !== undefined ? `"${dataKey}"` : `property name "${prop.name}"`} names no camera datum: set visitor data to one of ${Object.keys(ONVIF_DATA).join(', ')}`,
    );
  else {
    const spec = ONVIF_DATA[datum];
    const streamish = spec.type === 'STREAM';
    if (streamish && prop.type !== 'STREAM' && prop.type !== 'STRING')
      r.problem(undefined, `${datum} is a STREAM property (model type STREAM or STRING, not ${prop.type})`);
    if (!streamish && prop.type === 'STREAM')
      r.problem(undefined, `type STREAM is for saveFrame and saveVideo; ${datum} is ${spec.type}`);
    if (dataType === 'stream' && !streamish)
      r.problem('dataType', `stream is for saveFrame and saveVideo; ${datum} is not a stream`);
    if (spec.type === 'DOUBLE' && !['DOUBLE', 'FLOAT'].includes(prop.type))
      r.problem(undefined, `${datum} is a number: give the model property type DOUBLE or FLOAT, not ${prop.type}`);
    if (spec.type === 'BOOLEAN' && prop.type !== 'BOOLEAN' && datum !== 'reboot')
      r.problem(undefined, `${datum} is true/false: give the model property type BOOLEAN, not ${prop.type}`);
    if (spec.type === 'INT' && prop.type !== 'INT')
      r.problem(undefined, `${datum} is a time in Unix ms: give the model property type INT, not ${prop.type}`);
    if (!spec.write && prop.accessMode === 'ReadWrite')
      r.problem(undefined, `${datum} cannot be written: make the model property ReadOnly`, 'notice');
  }
  const profile = r.string('profile');
  const maxBytes = r.int('maxBytes', ONVIF_DEFAULT_SNAPSHOT_MAX_BYTES, 1024, ONVIF_SNAPSHOT_MAX_BYTES_LIMIT);
  const isVideo = datum === 'saveVideo';
  const formats: readonly string[] = isVideo ? VIDEO_FORMATS : FRAME_FORMATS;
  const format = (r.string('format') ?? (isVideo ? 'mp4' : 'jpg')).toLowerCase();
  const outputDir = r.string('outputDir');
  if (datum && MEDIA_DATA.includes(datum)) {
    if (!formats.includes(format)) r.problem('format', `"${format}" is not one of ${formats.join(', ')}`);
    if (outputDir === undefined) r.problem('outputDir', `is missing (the folder ${datum} writes into)`);
    else if (!outputDir.startsWith('/') && !outputDir.startsWith('./') && !outputDir.startsWith('../'))
      r.problem('outputDir', `"${outputDir}" must be a path (absolute, or ./relative)`);
  }
  const frameCount = r.int('frameCount', isVideo ? 100 : 1, 1, 100_000);
  const frameIntervalNs = r.int('frameInterval', 0, 0, 3_600_000_000_000);
  const videoNum = r.int('videoNum', 1, 1, 10_000);
  const retention: RetentionLimits = {
    maxFiles: r.int('retainFiles', ONVIF_DEFAULT_RETAIN_FILES, 1, 1_000_000),
    maxBytes: r.int('retainBytes', ONVIF_DEFAULT_RETAIN_BYTES, 1024),
    maxAgeMs: r.int('retainSeconds', 0, 0) * 1000,
  };
  const jobTimeoutMs = r.int('jobTimeout', 120_000, 1000, 24 * 3600 * 1000);
  return r.result(() => {
    const v: OnvifVisitor = {
      datum: datum as OnvifDatum,
      maxBytes,
      format: format === 'jpeg' ? 'jpg' : format,
      frameCount,
      frameIntervalNs,
      videoNum,
      retention,
      jobTimeoutMs,
    };
    if (profile !== undefined) v.profile = profile;
    if (outputDir !== undefined) v.outputDir = outputDir;
    return v;
  });
}

/** Every problem of an ONVIF device's config (validate, apply and the mapper). */
export function validateOnvifDevice(device: ResolvedDevice): ConfigIssue[] {
  return deviceConfigIssues(device, parseOnvifProtocol, parseOnvifVisitor);
}

/** One trailing newline dropped, as KubeEdge's onvif-mapper reads its secret file (and no more: spaces count). */
export function readPasswordFile(path: string): string {
  const text = readFileSync(path, 'utf8');
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}
