// The four Modbus tables of one simulated unit (slave ID). Tables are allocated on first use, so a sensor
// with one coil and one register costs little even with hundreds of simulated devices.

import type { ModbusTable } from '@edgetwin/mappers/drivers/modbus/config';

const SIZE = 65536;

export class RegisterBank {
  private coils?: Uint8Array;
  private discrete?: Uint8Array;
  private holding?: Uint16Array;
  private input?: Uint16Array;
  /** ranges that exist when the bank is strict; reads or writes elsewhere get exception 2 */
  private readonly mapped = new Map<ModbusTable, Array<[number, number]>>();

  constructor(readonly strict = false) {}

  /** Declares [offset, offset+count) of a table as existing (used only when strict). */
  map(table: ModbusTable, offset: number, count: number): void {
    const list = this.mapped.get(table) ?? [];
    list.push([offset, offset + count]);
    this.mapped.set(table, list);
  }

  /** True when every address of [offset, offset+count) exists. */
  has(table: ModbusTable, offset: number, count: number): boolean {
    if (offset + count > SIZE) return false;
    if (!this.strict) return true;
    const list = this.mapped.get(table) ?? [];
    for (let a = offset; a < offset + count; a++) if (!list.some(([s, e]) => a >= s && a < e)) return false;
    return true;
  }

  bits(table: 'coil' | 'discrete'): Uint8Array {
    if (table === 'coil') {
      this.coils ??= new Uint8Array(SIZE);
      return this.coils;
    }
    this.discrete ??= new Uint8Array(SIZE);
    return this.discrete;
  }

  words(table: 'holding' | 'input'): Uint16Array {
    if (table === 'holding') {
      this.holding ??= new Uint16Array(SIZE);
      return this.holding;
    }
    this.input ??= new Uint16Array(SIZE);
    return this.input;
  }
}
