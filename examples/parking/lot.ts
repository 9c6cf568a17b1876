// Counting free spaces from what the sensors report, free of MQTT: each space is occupied, free or
// unknown (no reading yet, or a reading that makes no sense), and only a space known to be free counts
// as free, so a dead sensor never sends a driver to a taken space.

export type Occupancy = 'occupied' | 'free' | 'unknown';

const OCCUPIED = new Set(['true', '1', 'on', 'occupied']);
const FREE = new Set(['false', '0', 'off', 'free']);

/** Reads the sensor's `occupied` value (BOOLEAN "true"/"false", or 1/0, ON/OFF). */
export function parseOccupancy(value: string | undefined): Occupancy {
  const v = value?.trim().toLowerCase();
  if (v === undefined) return 'unknown';
  if (OCCUPIED.has(v)) return 'occupied';
  if (FREE.has(v)) return 'free';
  return 'unknown';
}

/**
 * Falls back to the distance reading (cm from the ceiling sensor to what is below it) when the sensor
 * gives no occupancy: something closer than `occupiedBelowCm` is a car.
 */
export function occupancyFromDistance(value: string | undefined, occupiedBelowCm: number): Occupancy {
  if (value === undefined || value.trim() === '') return 'unknown';
  const cm = Number(value);
  if (!Number.isFinite(cm) || cm < 0) return 'unknown';
  return cm < occupiedBelowCm ? 'occupied' : 'free';
}

export interface LotSummary {
  lot: string;
  free: number;
  total: number;
  occupied: number;
  unknown: number;
  timestamp: number;
}

export class LotCounter {
  private readonly spaces = new Map<string, Occupancy>();

  constructor(
    readonly lot: string,
    sensors: readonly string[],
  ) {
    if (sensors.length === 0) throw new Error(`parking lot ${lot}: no sensors configured`);
    for (const s of sensors) this.spaces.set(s, 'unknown');
  }

  /** Records one sensor's state; returns true when it changed. Unknown sensors are an error. */
  set(sensor: string, occupancy: Occupancy): boolean {
    const before = this.spaces.get(sensor);
    if (before === undefined) throw new Error(`parking lot ${this.lot}: ${sensor} is not one of its sensors`);
    this.spaces.set(sensor, occupancy);
    return before !== occupancy;
  }

  get(sensor: string): Occupancy | undefined {
    return this.spaces.get(sensor);
  }

  summary(now = Date.now()): LotSummary {
    let free = 0;
    let occupied = 0;
    let unknown = 0;
    for (const o of this.spaces.values()) {
      if (o === 'free') free++;
      else if (o === 'occupied') occupied++;
      else unknown++;
    }
    return { lot: this.lot, free, total: this.spaces.size, occupied, unknown, timestamp: now };
  }
}

/** Where the app publishes the count (retained), e.g. `parking/lot-a/free`. */
export function freeCountTopic(lot: string): string {
  return `parking/${lot}/free`;
}
