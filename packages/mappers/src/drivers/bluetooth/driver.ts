// The `bluetooth` driver (KubeEdge's protocol name; issue 12, docs/ble.md) on @stoprocent/noble.
// A device is found by MAC address (public or random) or by advertised name / service UUID on the
// adapter's shared scanner; its properties are GATT characteristics (read on a cycle, or pushed by
// notify/indicate: the default for characteristics that can), or advertisement data (manufacturer /
// service data) decoded by the same converter. Connects are serialised per adapter; GATT operations
// run per device with a timeout, so a device that went silent delays no other device.

import type { ResolvedDevice, ResolvedProperty } from '@edgetwin/api';
import type { Characteristic, Peripheral } from '@stoprocent/noble';
import { withTimeout } from '../../framework/backoff.js';
import {
  type DeviceDriver,
  type DeviceHealth,
  type DriverContext,
  DriverError,
  type DriverFactory,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from '../../framework/driver.js';
import { AdapterPool, type BleAdapter } from './adapter.js';
import { formatConfigIssue } from '@edgetwin/api';
import {
  type BleDeviceConfig,
  type BlePropertyConfig,
  parseBluetoothProtocol,
  parseBluetoothVisitor,
  validateBluetoothDevice,
} from './config.js';
import { CodecError, decode, encode } from './converter.js';

/** An advertisement older than this (or 3 collect cycles, if longer) no longer counts as a reading. */
const ADVERTISEMENT_STALE_MS = 10_000;

function parsed(prop: ResolvedProperty): BlePropertyConfig {
  const r = parseBluetoothVisitor(prop);
  if (!r.ok) throw new DriverError(r.issues.map(formatConfigIssue).join('; '), 'config', false);
  return r.value;
}

class BleDriver implements DeviceDriver {
  private peripheral: Peripheral | undefined;
  private characteristics = new Map<string, Characteristic>();
  private linked = false;
  private lastAdvertisement: Peripheral['advertisement'] | undefined;
  private lastRssi: number | undefined;
  private lastSeen = 0;
  private readonly pushedValues = new Map<string, Buffer>();
  private stopAdvertisements: (() => void) | undefined;
  private onLost = () => this.linkLost('adapter went away');

  constructor(
    private readonly device: ResolvedDevice,
    private readonly cfg: BleDeviceConfig,
    private readonly adapter: BleAdapter,
    private readonly ctx: DriverContext,
  ) {}

  private get where(): string {
    return `device ${this.device.id}`;
  }

  private matches = (p: Peripheral): boolean => {
    if (this.cfg.address) return p.address.toLowerCase() === this.cfg.address;
    if (this.cfg.localName && p.advertisement.localName !== this.cfg.localName) return false;
    if (this.cfg.serviceUuid && !(p.advertisement.serviceUuids ?? []).includes(this.cfg.serviceUuid)) return false;
    return true;
  };

  private listenToAdvertisements(): void {
    if (this.stopAdvertisements) return;
    const onAd = (p: Peripheral) => {
      if (!this.matches(p)) return;
      this.lastSeen = Date.now();
      this.lastRssi = p.rssi;
      // a scan response carries only part of the data: keep what the advertisement had
      const prev = this.lastAdvertisement;
      this.lastAdvertisement = {
        ...p.advertisement,
        manufacturerData: p.advertisement.manufacturerData ?? prev?.manufacturerData,
        serviceData: p.advertisement.serviceData?.length ? p.advertisement.serviceData : (prev?.serviceData ?? []),
      } as Peripheral['advertisement'];
      this.emit?.();
    };
    this.adapter.on('advertisement', onAd);
    this.adapter.on('lost', this.onLost);
    this.stopAdvertisements = () => {
      this.adapter.off('advertisement', onAd);
      this.adapter.off('lost', this.onLost);
    };
  }

  /** set by subscribe() while advertisement properties are pushed */
  private emit: (() => void) | undefined;

  async connect(): Promise<void> {
    await this.adapter.ready(this.cfg.connectTimeoutMs);
    this.listenToAdvertisements();
    const known = this.adapter.lookup(this.matches);
    if (known) {
      this.lastSeen = known.lastSeen;
      this.lastRssi = known.peripheral.rssi;
      this.lastAdvertisement = known.peripheral.advertisement;
    }
    const peripheral = await this.adapter.find(
      this.matches,
      this.cfg.connectTimeoutMs,
      this.where,
      ADVERTISEMENT_STALE_MS,
    );
    this.peripheral = peripheral;
    if (this.cfg.advertisementOnly || this.cfg.connection === 'onDemand') {
      this.linked = true;
      return;
    }
    await this.openLink(peripheral);
    this.linked = true;
  }

  private async openLink(peripheral: Peripheral): Promise<void> {
    if (peripheral.state === 'connected' && this.characteristics.size > 0) return;
    await this.adapter.serialised(async () => {
      const t = this.cfg.connectTimeoutMs;
      try {
        if (peripheral.state !== 'connected')
          await withTimeout(
            peripheral.connectAsync(),
            t,
            () => new DriverError(`${this.where}: connect timed out after ${t} ms`, 'timeout', true),
          );
        const { characteristics } = await withTimeout(
          peripheral.discoverAllServicesAndCharacteristicsAsync(),
          t,
          () => new DriverError(`${this.where}: GATT discovery timed out after ${t} ms`, 'timeout', true),
        );
        this.characteristics = new Map();
        for (const c of characteristics) {
          this.characteristics.set(c.uuid, c);
          this.characteristics.set(`${(c as unknown as { _serviceUuid: string })._serviceUuid}/${c.uuid}`, c);
        }
      } catch (e) {
        if (peripheral.state === 'connecting') peripheral.cancelConnect();
        else await peripheral.disconnectAsync().catch(() => undefined);
        if (e instanceof DriverError) throw e;
        throw new DriverError(`${this.where}: connect failed: ${(e as Error).message}`, 'connection', true, {
          cause: e,
        });
      }
    });
    peripheral.once('disconnect', (reason: unknown) => {
      // onDemand ends its links itself after each cycle: only the GATT table goes (found again next time)
      if (this.cfg.connection === 'onDemand') this.characteristics = new Map();
      else this.linkLost(`disconnected (${String(reason)})`);
    });
    this.adapter.track(peripheral);
  }

  private linkLost(reason: string): void {
    if (!this.linked) return;
    this.ctx.logger.warn({ device: this.device.id, reason }, 'BLE link lost');
    this.linked = false;
    this.characteristics = new Map();
    this.pushedValues.clear();
  }

  private notConnected(prop: string): DriverError {
    return new DriverError(`${this.where} property ${prop}: not connected`, 'not-connected', true);
  }

  private characteristic(prop: ResolvedProperty, cfg: BlePropertyConfig): Characteristic {
    if (cfg.source.kind !== 'gatt') throw new Error('not a GATT property');
    const c = this.characteristics.get(
      cfg.source.service ? `${cfg.source.service}/${cfg.source.characteristic}` : cfg.source.characteristic,
    );
    if (!c)
      throw new DriverError(
        `${this.where} property ${prop.name}: the device has no characteristic ${cfg.source.characteristic}`,
        'config',
        false,
      );
    return c;
  }

  private op<T>(p: Promise<T>, what: string): Promise<T> {
    const t = this.cfg.operationTimeoutMs;
    return withTimeout(
      p,
      t,
      () => new DriverError(`${this.where} ${what}: no answer within ${t} ms`, 'timeout', true),
    ).catch((e: unknown) => {
      if (e instanceof DriverError) {
        if (e.code === 'timeout') this.abandonLink(what);
        throw e;
      }
      throw new DriverError(`${this.where} ${what}: ${(e as Error).message}`, 'exception', false, { cause: e });
    });
  }

  /**
   * An ATT request without an answer ends the bearer (Core spec Vol 3 Part F 3.3.3: no further requests
   * after a transaction timeout), and noble would queue every later request behind the unanswered one
   * forever. The link is dropped; reads then say "not connected" and the framework reconnects.
   */
  private abandonLink(what: string): void {
    const p = this.peripheral;
    if (!p || this.cfg.connection === 'onDemand') return;
    this.linkLost(`${what} timed out`);
    if (p.state === 'connected') void p.disconnectAsync().catch(() => undefined);
  }

  private advertised(prop: ResolvedProperty, cfg: BlePropertyConfig): Buffer | number {
    const staleMs = Math.max(ADVERTISEMENT_STALE_MS, 3 * prop.collectCycleMs);
    if (!this.lastSeen || Date.now() - this.lastSeen > staleMs)
      throw new DriverError(
        `${this.where} property ${prop.name}: no advertisement heard for ${staleMs} ms`,
        'not-connected',
        true,
      );
    const ad = this.lastAdvertisement;
    if (cfg.source.kind === 'rssi') {
      if (this.lastRssi === undefined) throw this.notConnected(prop.name);
      return this.lastRssi;
    }
    if (cfg.source.kind === 'manufacturerData') {
      const m = ad?.manufacturerData;
      if (!m || m.length < 2)
        throw new DriverError(
          `${this.where} property ${prop.name}: the advertisement has no manufacturer data`,
          'io',
          true,
        );
      const { companyId } = cfg.source;
      if (companyId !== undefined && m.readUInt16LE(0) !== companyId)
        throw new DriverError(
          `${this.where} property ${prop.name}: manufacturer data is from company 0x${m.readUInt16LE(0).toString(16)}, not 0x${companyId.toString(16)}`,
          'io',
          true,
        );
      return m.subarray(2);
    }
    if (cfg.source.kind === 'serviceData') {
      const uuid = cfg.source.uuid;
      const s = ad?.serviceData?.find((x) => x.uuid === uuid);
      if (!s)
        throw new DriverError(
          `${this.where} property ${prop.name}: the advertisement has no service data for ${uuid}`,
          'io',
          true,
        );
      return s.data;
    }
    throw new Error('not an advertised property');
  }

  private decodeFor(prop: ResolvedProperty, cfg: BlePropertyConfig, data: Buffer | number): RawValue {
    if (typeof data === 'number') return data;
    try {
      return decode(cfg.codec, data);
    } catch (e) {
      throw new DriverError(`${this.where} property ${prop.name}: ${(e as Error).message}`, 'io', false, { cause: e });
    }
  }

  private async readOne(prop: ResolvedProperty): Promise<RawValue> {
    const cfg = parsed(prop);
    if (cfg.source.kind !== 'gatt') return this.decodeFor(prop, cfg, this.advertised(prop, cfg));
    if (!this.linked || !this.peripheral) throw this.notConnected(prop.name);
    if (this.cfg.connection === 'onDemand') await this.openLink(this.peripheral);
    if (this.peripheral.state !== 'connected') throw this.notConnected(prop.name);
    const c = this.characteristic(prop, cfg);
    const pushed = this.pushedValues.get(prop.name);
    if (pushed && !c.properties.includes('read')) return this.decodeFor(prop, cfg, pushed);
    if (!c.properties.includes('read'))
      throw new DriverError(
        `${this.where} property ${prop.name}: characteristic ${c.uuid} cannot be read (no notification yet)`,
        'io',
        true,
      );
    const data = await this.op(c.readAsync(), `property ${prop.name} read`);
    return this.decodeFor(prop, cfg, data);
  }

  async readBatch(properties: ResolvedProperty[]): Promise<Map<string, ReadResult>> {
    const out = new Map<string, ReadResult>();
    for (const p of properties) {
      try {
        out.set(p.name, { ok: true, value: await this.readOne(p), timestamp: Date.now() });
      } catch (e) {
        const error =
          e instanceof DriverError
            ? e
            : new DriverError(`${this.where} property ${p.name}: ${(e as Error).message}`, 'io', true);
        out.set(p.name, { ok: false, error });
      }
    }
    if (this.cfg.connection === 'onDemand' && this.peripheral?.state === 'connected')
      await this.peripheral.disconnectAsync().catch(() => undefined);
    return out;
  }

  async write(property: ResolvedProperty, value: RawValue): Promise<void> {
    rejectReadOnly(this.device.id, property);
    const where = `${this.where} property ${property.name}`;
    const cfg = parsed(property);
    if (cfg.source.kind !== 'gatt')
      throw new DriverError(`${where}: advertisement data cannot be written`, 'config', false);
    let bytes: Buffer;
    try {
      bytes = encode(cfg.codec, value);
    } catch (e) {
      if (e instanceof CodecError) throw new DriverError(`${where}: ${e.message}`, 'out-of-range', false, { cause: e });
      throw e;
    }
    if (!this.linked || !this.peripheral) throw this.notConnected(property.name);
    if (this.cfg.connection === 'onDemand') await this.openLink(this.peripheral);
    if (this.peripheral.state !== 'connected') throw this.notConnected(property.name);
    const c = this.characteristic(property, cfg);
    const canWrite = c.properties.includes('write');
    const canCommand = c.properties.includes('writeWithoutResponse');
    const withoutResponse = cfg.writeWithoutResponse ?? (!canWrite && canCommand);
    if (withoutResponse ? !canCommand : !canWrite)
      throw new DriverError(
        `${where}: characteristic ${c.uuid} does not allow ${withoutResponse ? 'write without response' : 'write with response'} (it allows: ${c.properties.join(', ')})`,
        'config',
        false,
      );
    try {
      await this.op(c.writeAsync(bytes, withoutResponse), 'write');
      // A Write Command has no answer. ATT is ordered per link, so the answer to a read sent after it
      // shows the peripheral has taken the command: the write resolves when the value has arrived.
      if (withoutResponse && c.properties.includes('read')) await this.op(c.readAsync(), 'write (read-back)');
    } catch (e) {
      const err = e as DriverError;
      throw new DriverError(`${where}: ${err.message.replace(`${this.where} `, '')}`, err.code, err.retryable, {
        cause: e,
      });
    } finally {
      if (this.cfg.connection === 'onDemand') await this.peripheral.disconnectAsync().catch(() => undefined);
    }
  }

  /** Advertisement properties, and characteristics that notify or indicate (unless `subscribe: none`). */
  pushed(prop: ResolvedProperty): boolean {
    const r = parseBluetoothVisitor(prop);
    if (!r.ok) return false;
    const s = r.value.source;
    if (s.kind === 'manufacturerData' || s.kind === 'serviceData') return true;
    if (s.kind !== 'gatt' || s.subscribe === 'none' || this.cfg.connection === 'onDemand') return false;
    const c = this.characteristics.get(s.service ? `${s.service}/${s.characteristic}` : s.characteristic);
    return !!c && (c.properties.includes('notify') || c.properties.includes('indicate'));
  }

  async subscribe(
    properties: ResolvedProperty[],
    onValue: (property: string, value: RawValue, timestamp: number) => void,
  ): Promise<() => Promise<void>> {
    const stops: Array<() => Promise<void>> = [];
    const advertised: Array<{ prop: ResolvedProperty; cfg: BlePropertyConfig; last?: RawValue }> = [];
    for (const prop of properties) {
      const cfg = parsed(prop);
      if (cfg.source.kind !== 'gatt') {
        advertised.push({ prop, cfg });
        continue;
      }
      const c = this.characteristic(prop, cfg);
      const onData = (data: Buffer, isNotification: boolean) => {
        if (!isNotification) return; // a read's answer, not a push
        this.pushedValues.set(prop.name, data);
        try {
          onValue(prop.name, this.decodeFor(prop, cfg, data), Date.now());
        } catch (e) {
          this.ctx.logger.warn(
            { device: this.device.id, property: prop.name, err: (e as Error).message },
            'bad notification',
          );
        }
      };
      c.on('data', onData);
      await this.op(c.subscribeAsync(), `property ${prop.name} subscribe`);
      stops.push(async () => {
        c.off('data', onData);
        if (this.peripheral?.state === 'connected')
          await this.op(c.unsubscribeAsync(), 'unsubscribe').catch(() => undefined);
      });
    }
    if (advertised.length) {
      this.emit = () => {
        for (const a of advertised) {
          let v: RawValue;
          try {
            v = this.decodeFor(a.prop, a.cfg, this.advertised(a.prop, a.cfg));
          } catch {
            continue;
          }
          if (v === a.last) continue;
          a.last = v;
          onValue(a.prop.name, v, Date.now());
        }
      };
      stops.push(async () => {
        this.emit = undefined;
      });
    }
    return async () => {
      for (const s of stops) await s();
    };
  }

  async health(): Promise<DeviceHealth> {
    if (!this.linked) return 'offline';
    if (this.cfg.advertisementOnly || this.cfg.connection === 'onDemand')
      return Date.now() - this.lastSeen <= ADVERTISEMENT_STALE_MS ? 'online' : 'offline';
    const p = this.peripheral;
    if (p?.state !== 'connected') return 'offline';
    try {
      // RSSI as health: a link that cannot answer Read RSSI within the timeout is treated as gone
      this.lastRssi = await this.op(p.updateRssiAsync(), 'RSSI');
      return 'online';
    } catch (e) {
      this.ctx.logger.debug({ device: this.device.id, err: (e as Error).message }, 'RSSI read failed');
      return p.state === 'connected' ? 'unhealthy' : 'offline';
    }
  }

  /** The last RSSI (dBm) heard from the device: advertisement or Read RSSI. */
  rssi(): number | undefined {
    return this.lastRssi;
  }

  async disconnect(): Promise<void> {
    this.linked = false;
    this.stopAdvertisements?.();
    this.stopAdvertisements = undefined;
    this.emit = undefined;
    this.characteristics = new Map();
    this.pushedValues.clear();
    const p = this.peripheral;
    this.peripheral = undefined;
    if (p && (p.state === 'connected' || p.state === 'connecting')) {
      if (p.state === 'connecting') p.cancelConnect();
      else
        await withTimeout(
          p.disconnectAsync(),
          this.cfg.operationTimeoutMs,
          () => new Error('disconnect timed out'),
        ).catch(() => undefined);
    }
  }
}

const pool = new AdapterPool();

export const bluetoothDriverFactory: DriverFactory = {
  protocol: 'bluetooth',
  validate(device) {
    return validateBluetoothDevice(device);
  },
  create(device, ctx) {
    const d = parseBluetoothProtocol(device.protocolConfig, device.properties);
    if (!d.ok)
      throw new DriverError(`device ${device.id}: ${d.issues.map(formatConfigIssue).join('; ')}`, 'config', false);
    return new BleDriver(device, d.value, pool.get(d.value.adapter, ctx.logger), ctx);
  },
  async close() {
    await pool.close();
  },
};
