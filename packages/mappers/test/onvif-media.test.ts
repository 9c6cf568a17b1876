// saveFrame / saveVideo through Debian's ffmpeg (issue 13): videos of the emulated camera's RTSP stream that
// ffprobe plays, retention by count/bytes/age touching only the property's own files, other properties served
// while a job runs, and a clear status when ffmpeg is missing.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type EmulatedCamera, startEmulatedCamera } from '@edgetwin/simulators/onvif/ipycam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onvifDriverFactory } from '../src/drivers/onvif/index.js';
import { applyRetention } from '../src/drivers/onvif/media.js';
import { device, prop, startRig, type TwinUpdate } from './runtime-helpers.js';
import { collectReports } from '../src/conformance/report-collector.js';

const run = promisify(execFile);
let cam: EmulatedCamera;
let scratch: string;
beforeAll(async () => {
  cam = await startEmulatedCamera({ fps: 10 });
  scratch = mkdtempSync(join(tmpdir(), 'edgetwin-onvif-media-'));
}, 40_000);
afterAll(async () => {
  await cam?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const status = (m: { json(): unknown }, name: string) => {
  const v = (m.json() as TwinUpdate).twin[name]?.actual.value;
  return v === undefined
    ? undefined
    : (JSON.parse(v) as { state: string; files: number; bytes: number; lastFile?: string; error?: string });
};

describe('retention', () => {
  it('keeps the newest files within count, bytes and age, and never touches other files', async () => {
    const dir = join(scratch, 'ret');
    mkdirSync(dir);
    const now = Date.now();
    for (let i = 0; i < 6; i++) {
      const f = join(dir, `default_cam-saveFrame-2026120${i}T000000Z-0001.jpg`);
      writeFileSync(f, Buffer.alloc(1000));
      utimesSync(f, new Date(now - (6 - i) * 60_000), new Date(now - (6 - i) * 60_000));
    }
    writeFileSync(join(dir, 'someone-elses.jpg'), Buffer.alloc(5000));
    expect(
      await applyRetention(dir, 'default_cam-saveFrame-', { maxFiles: 4, maxBytes: 1e9, maxAgeMs: 0 }, now),
    ).toEqual({
      files: 4,
      bytes: 4000,
      removed: 2,
    });
    expect(
      await applyRetention(dir, 'default_cam-saveFrame-', { maxFiles: 100, maxBytes: 2500, maxAgeMs: 0 }, now),
    ).toMatchObject({
      files: 2,
    });
    expect(
      await applyRetention(dir, 'default_cam-saveFrame-', { maxFiles: 100, maxBytes: 1e9, maxAgeMs: 90_000 }, now),
    ).toMatchObject({
      files: 1,
    });
    expect(readdirSync(dir).sort()).toEqual(['default_cam-saveFrame-20261205T000000Z-0001.jpg', 'someone-elses.jpg']);
  });
});

describe('saveVideo and saveFrame in the mapper', () => {
  it('records videos ffprobe plays, keeps retainFiles of them, and serves other properties meanwhile', async () => {
    const out = join(scratch, 'videos');
    const d = device(
      'onvif',
      [
        prop('saveVideo', {
          type: 'STREAM',
          accessMode: 'ReadOnly',
          visitor: { dataType: 'stream', format: 'mp4', outputDir: out, frameCount: 10, videoNum: 2, retainFiles: 1 },
          collectCycleMs: 200,
        }),
        prop('getURI', {
          type: 'STRING',
          accessMode: 'ReadOnly',
          visitor: {},
          collectCycleMs: 100,
          report: { mode: 'cycle' },
        }),
      ],
      { protocolConfig: { url: cam.address, userName: cam.userName, password: cam.passwordFile } },
    );
    const rig = await startRig(onvifDriverFactory);
    try {
      const twin = await collectReports(rig.app, d.id);
      await rig.publish(d);
      await twin.waitFor((m) => status(m, 'saveVideo')?.state === 'running', 20_000);
      const runningAt = twin.messages.length;
      // the job is a child process: the stream URI keeps being read and reported while it runs
      await twin.waitFor(
        (m) => twin.messages.indexOf(m) >= runningAt && (m.json() as TwinUpdate).twin.getURI !== undefined,
      );
      const msgs = await twin.waitFor((m) => status(m, 'saveVideo')?.state === 'done', 60_000);
      const done = status(msgs.find((m) => status(m, 'saveVideo')?.state === 'done')!, 'saveVideo')!;
      expect(done.files).toBe(1);
      expect(readdirSync(out)).toHaveLength(1);
      const probe = await run('ffprobe', [
        '-v',
        'error',
        '-count_frames',
        '-show_entries',
        'stream=codec_name,width,nb_read_frames',
        '-of',
        'json',
        done.lastFile!,
      ]);
      expect(JSON.parse(probe.stdout).streams[0]).toMatchObject({ codec_name: 'h264', width: 320 });
      expect(Number(JSON.parse(probe.stdout).streams[0].nb_read_frames)).toBeGreaterThanOrEqual(9);
    } finally {
      await rig.close();
    }
  });

  it('says clearly when ffmpeg is missing, and the other properties keep working', async () => {
    const before = process.env.EDGETWIN_FFMPEG;
    process.env.EDGETWIN_FFMPEG = join(scratch, 'no-such-ffmpeg');
    const d = device(
      'onvif',
      [
        prop('saveFrame', {
          type: 'STREAM',
          accessMode: 'ReadOnly',
          visitor: { dataType: 'stream', outputDir: join(scratch, 'f') },
        }),
        prop('manufacturer', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} }),
      ],
      { protocolConfig: { url: cam.address, userName: cam.userName, password: cam.passwordFile } },
    );
    const rig = await startRig(onvifDriverFactory);
    try {
      const twin = await collectReports(rig.app, d.id);
      await rig.publish(d);
      const msgs = await twin.waitFor((m) => status(m, 'saveFrame')?.state === 'failed', 20_000);
      expect(status(msgs.find((m) => status(m, 'saveFrame')?.state === 'failed')!, 'saveFrame')?.error).toBe(
        'ffmpeg is not on PATH: saveFrame and saveVideo need it (Debian: apt-get install ffmpeg)',
      );
      expect(msgs.some((m) => (m.json() as TwinUpdate).twin.manufacturer?.actual.value === 'edgetwin-test')).toBe(true);
    } finally {
      await rig.close();
      if (before === undefined) delete process.env.EDGETWIN_FFMPEG;
      else process.env.EDGETWIN_FFMPEG = before;
    }
  });
});
