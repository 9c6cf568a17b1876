// `edgetwin probe onvif` (issue 13): WS-Discovery (ONVIF Core §7.3, WS-Discovery 2005/04) finds cameras, then
// optionally asks each for its identity and profiles, and writes a DeviceModel + Device manifests. A Probe goes
// by unicast to `--target host:port` (what the tests use: nothing leaves loopback), or, only when no target is
// given, to the WS-Discovery multicast group on the LAN. ProbeMatch replies are parsed leniently (ipycam puts
// ProbeMatch directly in the Body, without ProbeMatches).
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { OnvifCamera } from './camera.js';
import { deviceServiceUrl } from './config.js';
import { at, type Credentials, list, parseXml, text } from './soap.js';

/** WS-Discovery's IPv4 multicast group and port (used only without --target). */
export const WS_DISCOVERY_GROUP = { host: '239.255.255.250', port: 3702 } as const;
/** Replies read at most, and bytes per reply: a LAN full of cameras (or a hostile host) cannot flood us. */
export const MAX_PROBE_MATCHES = 256;
const MAX_DATAGRAM = 64 * 1024;

export interface DiscoveredCamera {
  /** the first device service URL the camera gave (XAddrs) */
  xaddr: string;
  /** host:port, KubeEdge's `url` form */
  address: string;
  endpoint: string;
  name?: string;
  hardware?: string;
  scopes: string[];
  /** filled when credentials were given */
  info?: { manufacturer: string; model: string; serialNumber: string; firmwareVersion: string };
  profiles?: Array<{ token: string; name: string; width?: number; height?: number; ptz: boolean }>;
  streamUri?: string;
  error?: string;
}

export function probeMessage(messageId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ' +
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>' +
    `<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>${messageId}</a:MessageID>` +
    '<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>' +
    '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>' +
    '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>'
  );
}

/** The cameras of one ProbeMatches reply (those answering `messageId` when the reply says what it relates to). */
export function parseProbeMatches(xml: string, messageId: string): DiscoveredCamera[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseXml(xml);
  } catch {
    return [];
  }
  const relates = text(at(doc, 'Envelope', 'Header', 'RelatesTo'));
  if (relates && relates !== messageId) return [];
  const body = at(doc, 'Envelope', 'Body');
  const matches = [...list(at(body, 'ProbeMatches', 'ProbeMatch')), ...list(at(body, 'ProbeMatch'))];
  const out: DiscoveredCamera[] = [];
  for (const m of matches) {
    const xaddrs = (text(at(m, 'XAddrs')) ?? '').split(/\s+/).filter(Boolean);
    const xaddr = xaddrs.find((x) => /^https?:\/\//.test(x));
    if (!xaddr) continue;
    const u = new URL(xaddr);
    const scopes = list(at(m, 'Scopes'))
      .map((x) => text(x) ?? '')
      .join(' ')
      .split(/\s+(?=onvif:\/\/)/)
      .filter(Boolean);
    const scope = (kind: string) => {
      const s = scopes.find((x) => x.startsWith(`onvif://www.onvif.org/${kind}/`));
      return s ? decodeURIComponent(s.slice(`onvif://www.onvif.org/${kind}/`.length)) : undefined;
    };
    const cam: DiscoveredCamera = {
      xaddr,
      address: `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`,
      endpoint: text(at(m, 'EndpointReference', 'Address')) ?? '',
      scopes,
    };
    const name = scope('name');
    const hardware = scope('hardware');
    if (name) cam.name = name;
    if (hardware) cam.hardware = hardware;
    out.push(cam);
  }
  return out;
}

export interface ProbeOptions {
  /** host:port of one camera's WS-Discovery port (unicast); absent: multicast on the LAN */
  target?: { host: string; port: number };
  /** how long to listen for replies (ms); with a target, the first reply ends the wait */
  timeoutMs: number;
}

/** Sends one Probe and collects the cameras that answer within the timeout, one per endpoint. */
export async function discoverCameras(opts: ProbeOptions): Promise<DiscoveredCamera[]> {
  const socket = createSocket({ type: 'udp4', reuseAddr: false });
  const messageId = `urn:uuid:${randomUUID()}`;
  const found = new Map<string, DiscoveredCamera>();
  try {
    await new Promise<void>((res, rej) => {
      socket.once('error', rej);
      socket.bind(0, opts.target ? undefined : '0.0.0.0', () => res());
    });
    const to = opts.target ?? WS_DISCOVERY_GROUP;
    await new Promise<void>((res, rej) =>
      socket.send(probeMessage(messageId), to.port, to.host, (e) => (e ? rej(e) : res())),
    );
    await new Promise<void>((res) => {
      const timer = setTimeout(res, opts.timeoutMs);
      socket.on('message', (msg) => {
        if (msg.length > MAX_DATAGRAM || found.size >= MAX_PROBE_MATCHES) return;
        for (const cam of parseProbeMatches(msg.toString('utf8'), messageId))
          if (!found.has(cam.endpoint || cam.xaddr)) found.set(cam.endpoint || cam.xaddr, cam);
        if (opts.target && found.size > 0) {
          clearTimeout(timer);
          res();
        }
      });
    });
  } finally {
    socket.close();
  }
  return [...found.values()].sort((a, b) => a.address.localeCompare(b.address));
}

/** Asks a discovered camera for its identity, profiles and first stream URI (errors are kept on the camera). */
export async function describeCamera(
  cam: DiscoveredCamera,
  cred: Credentials | undefined,
  timeoutMs: number,
): Promise<void> {
  const url = deviceServiceUrl(cam.xaddr);
  if (!url) return;
  const camera = new OnvifCamera(url, () => cred, timeoutMs);
  try {
    await camera.syncClock();
    await camera.getCapabilities();
    const info = await camera.getDeviceInformation();
    cam.info = {
      manufacturer: info.manufacturer,
      model: info.model,
      serialNumber: info.serialNumber,
      firmwareVersion: info.firmwareVersion,
    };
    const profiles = await camera.getProfiles();
    cam.profiles = profiles.map((p) => {
      const o: NonNullable<DiscoveredCamera['profiles']>[number] = { token: p.token, name: p.name, ptz: p.ptz };
      if (p.width !== undefined) o.width = p.width;
      if (p.height !== undefined) o.height = p.height;
      return o;
    });
    if (profiles[0]) cam.streamUri = await camera.getStreamUri(profiles[0].token);
  } catch (e) {
    cam.error = (e as Error).message;
  }
}

/** A DeviceModel for the cameras found and one Device per camera, as YAML-ready objects. */
export function onvifManifests(
  cams: DiscoveredCamera[],
  o: { node: string; namePrefix: string; userName?: string; passwordFile: string },
): Record<string, unknown>[] {
  const ptz = cams.some((c) => c.profiles?.some((p) => p.ptz));
  const props: Array<{ name: string; type: string; accessMode: string; minimum?: string; maximum?: string }> = [
    { name: 'getURI', type: 'STRING', accessMode: 'ReadOnly' },
    { name: 'manufacturer', type: 'STRING', accessMode: 'ReadOnly' },
    { name: 'model', type: 'STRING', accessMode: 'ReadOnly' },
    { name: 'serialNumber', type: 'STRING', accessMode: 'ReadOnly' },
    { name: 'snapshot', type: 'STRING', accessMode: 'ReadOnly' },
    { name: 'streamReachable', type: 'BOOLEAN', accessMode: 'ReadOnly' },
  ];
  if (ptz)
    props.push(
      { name: 'pan', type: 'DOUBLE', accessMode: 'ReadWrite', minimum: '-1', maximum: '1' },
      { name: 'tilt', type: 'DOUBLE', accessMode: 'ReadWrite', minimum: '-1', maximum: '1' },
      { name: 'zoom', type: 'DOUBLE', accessMode: 'ReadWrite', minimum: '0', maximum: '1' },
      { name: 'preset', type: 'STRING', accessMode: 'ReadWrite' },
    );
  const model = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: `${o.namePrefix}-model`, namespace: 'default' },
    spec: { protocol: 'onvif', properties: props },
  };
  const cycles: Record<string, number> = {
    getURI: 60_000,
    manufacturer: 3_600_000,
    model: 3_600_000,
    serialNumber: 3_600_000,
    snapshot: 10_000,
    streamReachable: 10_000,
  };
  const devices = cams.map((c, i) => ({
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: {
      name: `${o.namePrefix}-${i + 1}`,
      namespace: 'default',
      labels: { 'edgetwin.io/discovered-by': 'probe-onvif' },
      ...(c.name || c.endpoint
        ? {
            annotations: {
              ...(c.name ? { 'edgetwin.io/camera-name': c.name } : {}),
              ...(c.endpoint ? { 'edgetwin.io/endpoint': c.endpoint } : {}),
            },
          }
        : {}),
    },
    spec: {
      deviceModelRef: { name: model.metadata.name },
      nodeName: o.node,
      protocol: {
        protocolName: 'onvif',
        configData: {
          url: new URL(c.xaddr).pathname === '/onvif/device_service' ? c.address : c.xaddr,
          ...(o.userName ? { userName: o.userName, password: o.passwordFile } : {}),
        },
      },
      properties: props.map((p) => ({
        name: p.name,
        ...(cycles[p.name] ? { collectCycle: cycles[p.name], reportCycle: cycles[p.name] } : {}),
      })),
    },
  }));
  return [model, ...devices];
}
