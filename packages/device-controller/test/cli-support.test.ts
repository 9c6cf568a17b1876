// The CLI's parsing and presentation, in process (the spawned-command test covers the wiring).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAssignment } from '../../cli/src/commands/twin.js';
import { outputFormat, parseName, readManifests, reportFailure, UsageError } from '../src/cli/common.js';
import { age, describeDevice, nodeTable, reportsSummary, table } from '../src/cli/present.js';
import { ControllerError } from '../src/http/client.js';
import { device, model, tempDir } from './support.js';

describe('CLI argument parsing', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('parses PROPERTY=VALUE, keeping "=" inside the value, and refuses anything else as a usage error', () => {
    expect(parseAssignment('setpoint=21.5')).toEqual({ property: 'setpoint', value: '21.5' });
    expect(parseAssignment('expr=a=b')).toEqual({ property: 'expr', value: 'a=b' });
    expect(parseAssignment('empty=')).toEqual({ property: 'empty', value: '' });
    expect(() => parseAssignment('setpoint')).toThrow(UsageError);
    expect(() => parseAssignment('=5')).toThrow(/expected PROPERTY=VALUE/);
  });

  it('reads names as NAME or NAMESPACE/NAME', () => {
    expect(parseName('t1', undefined)).toEqual({ namespace: 'default', name: 't1' });
    expect(parseName('t1', 'plant')).toEqual({ namespace: 'plant', name: 't1' });
    expect(parseName('plant/t1', 'other')).toEqual({ namespace: 'plant', name: 't1' });
    expect(() => parseName('a/b/c', undefined)).toThrow(UsageError);
    expect(() => outputFormat('xml')).toThrow(/unknown output format/);
  });

  it('reads files, directories (manifests only, subfolders too, sorted) and stdin, and names a missing path', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const sub = join(t.dir, 'm');
    mkdirSync(sub);
    writeFileSync(join(sub, 'b.yaml'), 'b');
    writeFileSync(join(sub, 'a.yml'), 'a');
    writeFileSync(join(sub, 'notes.txt'), 'x');
    mkdirSync(join(sub, 'models'));
    writeFileSync(join(sub, 'models', 'c.yaml'), 'c');
    const files = readManifests([sub, '-'], () => 'from stdin');
    expect(files.map((f) => [f.file.replace(t.dir, ''), f.text])).toEqual([
      ['/m/a.yml', 'a'],
      ['/m/b.yaml', 'b'],
      ['/m/models/c.yaml', 'c'],
      ['<stdin>', 'from stdin'],
    ]);
    expect(() => readManifests([join(t.dir, 'nope.yaml')])).toThrow(/nope\.yaml: no such file or directory/);
  });

  it('prints controller findings as they are (exit 1) and usage errors with exit 2', () => {
    const out: string[] = [];
    expect(
      reportFailure(new ControllerError(400, ['a.yaml:3:5: Device/default/x: spec: bad']), (l) => out.push(l)),
    ).toBe(1);
    expect(reportFailure(new UsageError('bad -o'), (l) => out.push(l))).toBe(2);
    expect(out).toEqual(['a.yaml:3:5: Device/default/x: spec: bad', 'edgetwin: bad -o']);
  });
});

describe('CLI presentation', () => {
  it('aligns table columns', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xx', 'y'],
          ['z', 'w'],
        ],
      ),
    ).toBe('A    LONGER\nxx   y\nz    w');
  });

  it('shows a node whose reports are queued or refused instead of passing its values off as current (issue 9 §2)', () => {
    const now = Date.parse('2026-12-03T05:00:00Z');
    const at = (s: number) => new Date(now - s * 1000).toISOString();
    const base = { epoch: 'e', appliedSeq: 10, held: 0, refused: {} };
    expect(reportsSummary({ ...base, queued: 0, lastAppliedAt: at(3) }, now)).toBe('up to date, last applied 3s ago');
    expect(reportsSummary({ ...base, queued: 1204, lastAppliedAt: at(14) }, now)).toBe(
      '1,204 queued, last applied 14s ago',
    );
    const refused = {
      ...base,
      queued: 88,
      held: 1,
      refused: { gap: 3 },
      lastRefusal: { reason: 'gap', at: at(1) },
      lastAppliedAt: at(14),
    };
    expect(reportsSummary(refused, now)).toBe(
      'refused (gap) x3, 1 waiting for an earlier batch, 88 queued, last applied 14s ago',
    );
    // a refusal that was followed by progress is history, not the current state
    expect(reportsSummary({ ...refused, held: 0, queued: 0, lastAppliedAt: at(0) }, now)).toBe(
      'up to date, last applied 0s ago',
    );
    expect(
      nodeTable(
        [
          {
            name: 'gw',
            presence: 'offline',
            devices: 2,
            since: at(60),
            reports: { ...base, queued: 5, lastAppliedAt: at(60) },
          },
        ],
        now,
      ),
    ).toMatch(/^NAME\s+PRESENCE\s+DEVICES\s+SINCE\s+REPORTS\ngw\s+offline\s+2\s+60s\s+5 queued, last applied 60s ago$/);
  });

  it('shows ages like kubectl', () => {
    const now = Date.parse('2026-11-23T12:00:00Z');
    expect(age('2026-11-23T11:59:30Z', now)).toBe('30s');
    expect(age('2026-11-23T11:50:00Z', now)).toBe('10m');
    expect(age('2026-11-20T12:00:00Z', now)).toBe('3d');
    expect(age(undefined, now)).toBe('<none>');
  });

  it('describes desired against reported per property, typed (1.0 is in sync with 1)', () => {
    const m = model('thermo', { setpoint: { type: 'FLOAT' }, mode: { type: 'STRING' } });
    const d = device('t1', 'n1', 'thermo', ['setpoint', 'mode']);
    d.spec.properties![0]!.desired = { value: '1.0' };
    d.spec.properties![1]!.desired = { value: 'eco' };
    d.status = {
      state: 'online',
      twins: [
        { propertyName: 'setpoint', reported: { value: '1', metadata: { timestamp: '0', type: 'float' } } },
        { propertyName: 'mode', reported: { value: 'comfort' } },
      ],
    };
    const text = describeDevice(d, m);
    expect(text).toMatch(/^State:\s+online$/m);
    expect(text).toMatch(/^\s+setpoint\s+FLOAT\s+1\.0\s+1\s.*[^g]$/m);
    expect(text).toMatch(/^\s+mode\s+STRING\s+eco\s+comfort\s.*pending$/m);
  });
});
