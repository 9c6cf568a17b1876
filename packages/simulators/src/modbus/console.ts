// Typed commands for a running simulator (`edgetwin simulate` reads them from stdin), so a demo can park a
// car, heat a room or unplug a meter by hand: set, get, fault, help.

import type { ModbusValue } from '@edgetwin/mappers/drivers/modbus/codec';
import type { ModbusFault, ModbusSimulator } from './simulator.js';

export const SIMULATOR_COMMANDS_HELP = [
  'set <device> <property> <value>   change a value as the physical world would (true/false, numbers, text)',
  'get <device> <property>           show a value',
  'fault <device> timeout|exception|disconnect|off',
  'help',
].join('\n');

/** Runs one command line; returns the text to print (errors included, never thrown). */
export function runSimulatorCommand(sim: ModbusSimulator, line: string): string {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const [cmd, dev, ...rest] = words;
  if (!cmd) return '';
  try {
    switch (cmd) {
      case 'help':
        return SIMULATOR_COMMANDS_HELP;
      case 'get': {
        const [prop] = rest;
        if (!dev || !prop) return 'usage: get <device> <property>';
        return `${deviceIdOf(sim, dev)} ${prop} = ${String(sim.peek(deviceIdOf(sim, dev), prop))}`;
      }
      case 'set': {
        const [prop, ...valueWords] = rest;
        if (!dev || !prop || valueWords.length === 0) return 'usage: set <device> <property> <value>';
        const id = deviceIdOf(sim, dev);
        sim.poke(id, prop, parseTyped(valueWords.join(' ')));
        return `${id} ${prop} = ${String(sim.peek(id, prop))}`;
      }
      case 'fault': {
        const [kind] = rest;
        const faults: Record<string, ModbusFault> = {
          timeout: 'timeout',
          exception: 'exception',
          disconnect: 'disconnect',
          off: null,
        };
        if (!dev || !kind || !(kind in faults)) return 'usage: fault <device> timeout|exception|disconnect|off';
        const id = deviceIdOf(sim, dev);
        sim.setFault(id, faults[kind] ?? null);
        return kind === 'off' ? `${id}: fault cleared` : `${id}: ${kind}`;
      }
      default:
        return `unknown command "${cmd}"\n${SIMULATOR_COMMANDS_HELP}`;
    }
  } catch (e) {
    return (e as Error).message;
  }
}

/** `bay-1` means `default/bay-1` unless only one namespace has it. */
function deviceIdOf(sim: ModbusSimulator, given: string): string {
  const ids = [...new Set(sim.describe().map((d) => d.device))];
  if (ids.includes(given)) return given;
  const byName = ids.filter((id) => id.slice(id.indexOf('/') + 1) === given);
  if (byName.length === 1) return byName[0] as string;
  if (byName.length > 1) throw new Error(`device ${given} is ambiguous: ${byName.join(', ')}`);
  throw new Error(`no device ${given} (have ${ids.join(', ')})`);
}

function parseTyped(text: string): ModbusValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}
