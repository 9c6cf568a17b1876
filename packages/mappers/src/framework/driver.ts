// The contract between the mapper framework and a protocol driver. A new protocol is one folder under
// src/drivers/<protocol>/ that exports a DriverFactory; the framework does scheduling, transforms that
// every protocol shares, report strategies, write reconciliation, state reporting and MQTT.

import type { ConfigIssue, ResolvedDevice, ResolvedProperty } from '@edgetwin/api';
import type { Logger } from 'pino';

/** A raw reading as the driver decoded it: a number, boolean or string in the device's own units. */
export type RawValue = number | boolean | string;

export type ReadResult = { ok: true; value: RawValue; timestamp: number } | { ok: false; error: DriverError };

export type DeviceHealth = 'online' | 'offline' | 'unknown' | 'unhealthy';

/** Errors carry what failed, on which device and property, and whether retrying may help. */
export class DriverError extends Error {
  constructor(
    message: string,
    readonly code:
      | 'timeout'
      | 'connection'
      | 'exception'
      | 'config'
      | 'unsupported'
      | 'out-of-range'
      | 'io'
      | 'not-connected',
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DriverError';
  }
}

export interface DriverContext {
  logger: Logger;
  /** aborted when the device is removed or the mapper stops */
  signal: AbortSignal;
  /**
   * Publishes a binary payload on the edge bus (QoS 0, not retained): media a driver produces besides
   * readings, such as a camera's snapshot JPEG on api's mediaTopic (issue 13). Absent where no bus is
   * attached (driver unit tests).
   */
  publish?(topic: string, payload: Buffer): Promise<void>;
}

/**
 * One connection to one device. Drivers take protocol settings from the device given to create(), but
 * read visitor settings from the properties passed to each call: the framework applies a changed
 * property (new register, new pin) by passing the new visitor, without reconnecting the device.
 */
export interface DeviceDriver {
  /** Open the connection. Throws DriverError; the framework retries with backoff. */
  connect(): Promise<void>;
  /**
   * Read several properties at once. Drivers batch what they can (contiguous Modbus registers in one
   * request). Returns one result per property name; a failure of one property is its own result.
   */
  readBatch(properties: ResolvedProperty[]): Promise<Map<string, ReadResult>>;
  /**
   * Write one value, already converted by the framework to the property's raw value. Rejects with a
   * DriverError: code 'config' for a ReadOnly property (see rejectReadOnly), 'out-of-range' for a value
   * the protocol cannot carry (wrong JS type, too large for the register).
   */
  write(property: ResolvedProperty, value: RawValue): Promise<void>;
  /** Optional, for push protocols (GPIO edges, OPC UA subscriptions, BLE notify). Returns an unsubscribe. */
  subscribe?(
    properties: ResolvedProperty[],
    onValue: (property: string, value: RawValue, timestamp: number) => void,
  ): Promise<() => Promise<void>>;
  /**
   * Optional: which properties subscribe() serves (asked after connect). Without it, the properties with
   * a visitor `edge` (GPIO). BLE answers for characteristics that notify/indicate and advertisement data.
   */
  pushed?(property: ResolvedProperty): boolean;
  health(): Promise<DeviceHealth>;
  disconnect(): Promise<void>;
}

export interface DriverFactory {
  /** protocolName this driver serves, as in Device spec.protocol.protocolName (e.g. "modbus") */
  protocol: string;
  /**
   * Check a device's protocol and visitor config before anything connects: the driver's config.ts check
   * (docs in packages/mappers/README.md), one ConfigIssue per problem naming the property and key. The same
   * function runs in `edgetwin validate`/`apply` (drivers/validators.ts) and in the mapper.
   */
  validate(device: ResolvedDevice): ConfigIssue[];
  create(device: ResolvedDevice, ctx: DriverContext): DeviceDriver;
  /** Optional: release shared resources (a serial line or TCP gateway shared by several devices). */
  close?(): Promise<void>;
}

/** The error every driver throws when asked to write a ReadOnly property (the framework checks first too). */
export function rejectReadOnly(deviceId: string, property: ResolvedProperty): void {
  if (property.accessMode === 'ReadOnly')
    throw new DriverError(`device ${deviceId}: property ${property.name} is ReadOnly`, 'config', false);
}
