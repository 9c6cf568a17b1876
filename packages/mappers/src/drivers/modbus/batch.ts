// Plans reads: properties of one device on the same table whose ranges are contiguous or close are read in
// one request (up to the protocol limit), and each property is decoded from the block.

import { MODBUS_MAX_READ_BITS, type ModbusPoint, type ModbusTable } from './config.js';

export interface ReadGroup {
  table: ModbusTable;
  start: number;
  count: number;
  members: ModbusPoint[];
}

export function planReads(points: ModbusPoint[], maxGap: number, maxRegisters: number): ReadGroup[] {
  const sorted = [...points].sort((a, b) => (a.table === b.table ? a.offset - b.offset : a.table < b.table ? -1 : 1));
  const groups: ReadGroup[] = [];
  let cur: ReadGroup | undefined;
  for (const p of sorted) {
    const limit = p.table === 'coil' || p.table === 'discrete' ? MODBUS_MAX_READ_BITS : maxRegisters;
    const end = p.offset + p.count;
    if (
      cur &&
      cur.table === p.table &&
      p.offset - (cur.start + cur.count) <= maxGap &&
      Math.max(end, cur.start + cur.count) - cur.start <= limit
    ) {
      cur.count = Math.max(end, cur.start + cur.count) - cur.start;
      cur.members.push(p);
      continue;
    }
    cur = { table: p.table, start: p.offset, count: p.count, members: [p] };
    groups.push(cur);
  }
  return groups;
}
