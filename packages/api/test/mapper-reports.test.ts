// Issue 15: the report channel's batch decoder that does not parse a batch repeating the one before, and the
// device state entries our mappers send on it (target 5).
import { describe, expect, it } from 'vitest';
import {
  decodeMapperReports,
  encodeMapperReportEntry,
  encodeMapperReports,
  encodeMapperStateEntry,
  MapperReportDecoder,
} from '../src/mapper-reports.js';

const batch = (seq: number, ts: number, values: string[]) =>
  Buffer.from(
    encodeMapperReports(seq, ts, [
      encodeMapperReportEntry('ns/a', ['x', 'y'], values),
      encodeMapperReportEntry('ns/b', ['z'], ['"quoted"']),
    ]),
  );

describe('MapperReportDecoder', () => {
  it('answers a batch with the same entries as the one before from it, with its own seq and timestamp', () => {
    const d = new MapperReportDecoder();
    const first = d.decode(batch(7, 1_700_000_000_000, ['1', '2']));
    const again = d.decode(batch(8, 1_700_000_000_010, ['1', '2']));
    expect(d.reused).toBe(1);
    expect(again).toEqual(decodeMapperReports(batch(8, 1_700_000_000_010, ['1', '2'])));
    expect(again.ok && first.ok && again.value.entries).toBe(first.ok && first.value.entries);
  });

  it('parses a batch whose entries differ, and any batch after one that did not decode', () => {
    const d = new MapperReportDecoder();
    d.decode(batch(1, 10, ['1', '2']));
    const changed = d.decode(batch(2, 20, ['1', '3']));
    expect(changed.ok && changed.value.entries[0]).toEqual(['ns/a', 'x', '1', 'y', '3']);
    expect(d.reused).toBe(0);
    const bad = d.decode(Buffer.from('[1,3,30,["ns/a","x"]]'));
    expect(bad).toMatchObject({ ok: false, error: expect.stringMatching(/entry 0: must be \[device id, property/) });
    expect(d.decode(Buffer.from('[1,4,40,["ns/a","x"]]')).ok).toBe(false);
    const back = d.decode(batch(5, 50, ['1', '3']));
    expect(back.ok && back.value.seq).toBe(5);
    expect(d.reused).toBe(0);
  });
});

describe('device state entries', () => {
  it('travel beside readings and decode apart from them, also from a batch repeating the one before', () => {
    const body = encodeMapperReports(3, 30, [
      encodeMapperStateEntry('ns/a', 'online'),
      encodeMapperReportEntry('ns/a', ['x'], ['1']),
      encodeMapperStateEntry('ns/"b"', 'offline'),
    ]);
    const d = decodeMapperReports(body);
    expect(d.ok && d.value.entries).toEqual([['ns/a', 'x', '1']]);
    expect(d.ok && d.value.states).toEqual([
      { device: 'ns/a', state: 'online' },
      { device: 'ns/"b"', state: 'offline' },
    ]);
    const dec = new MapperReportDecoder();
    dec.decode(Buffer.from(body));
    const again = dec.decode(Buffer.from(body.replace('[1,3,30,', '[1,4,40,')));
    expect(dec.reused).toBe(1);
    expect(again.ok && again.value.states).toEqual(d.ok && d.value.states);
  });

  it('a malformed state entry names the entry and the shape expected', () => {
    for (const bad of ['[1,1,1,[0,"ns/a"]]', '[1,1,1,[0,"ns/a",1]]', '[1,1,1,[0,"","online"]]'])
      expect(decodeMapperReports(bad)).toMatchObject({
        ok: false,
        error: 'report batch entry 0: a state entry must be [0, device id, state]',
      });
  });
});
