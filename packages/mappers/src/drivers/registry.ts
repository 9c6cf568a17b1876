// Protocol name -> driver factory. Drivers load lazily, so a mapper of one protocol never loads (or
// fails on) another protocol's native dependencies.

import type { DriverFactory } from '../framework/driver.js';

type Loader = () => Promise<DriverFactory>;

const loaders: Record<string, Loader> = {
  virtualprotocol: async () => (await import('./virtual/index.js')).virtualDriverFactory,
  gpio: async () => (await import('./gpio/index.js')).gpioDriverFactory,
  modbus: async () => (await import('./modbus/index.js')).modbusDriverFactory,
  bluetooth: async () => (await import('./bluetooth/index.js')).bluetoothDriverFactory,
  opcua: async () => (await import('./opcua/index.js')).opcuaDriverFactory,
  onvif: async () => (await import('./onvif/index.js')).onvifDriverFactory,
};
/** Other spellings users write for the same protocols. */
const aliases: Record<string, string> = { virtual: 'virtualprotocol', ble: 'bluetooth' };

/** Protocol names with a built-in driver, as Device spec.protocol.protocolName spells them. */
export const BUILT_IN_PROTOCOLS = ['virtualProtocol', 'gpio', 'modbus', 'bluetooth', 'opcua', 'onvif'] as const;

/** The driver factory of a protocol (case-insensitive), or an error listing the known ones. */
export async function driverFor(protocol: string): Promise<DriverFactory> {
  const key = protocol.toLowerCase();
  const load = loaders[aliases[key] ?? key];
  if (!load)
    throw new Error(`no driver for protocol "${protocol}": built-in protocols are ${BUILT_IN_PROTOCOLS.join(', ')}`);
  return load();
}
