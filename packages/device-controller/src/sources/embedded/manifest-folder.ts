// Keeps the embedded store in step with a folder of manifests (GitOps-style): every .yaml/.yml/.json file
// in the folder is applied, and objects that came from the folder but are no longer in it are deleted.
// A folder that does not validate changes nothing: its findings are reported and the store keeps the last
// good state. Objects applied from the folder carry the annotation below, so ownership survives restarts
// and objects applied with `edgetwin apply` are never deleted by the folder.

import { type FSWatcher, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { ProtocolValidators } from '@edgetwin/api';
import pino, { type Logger } from 'pino';
import { checkManifests, type ManifestFile } from '../../http/check-manifests.js';
import { objectKey, type SourceObject } from '../../source.js';
import type { EmbeddedStore, ObjectRef } from './store.js';

export const FOLDER_ANNOTATION = 'edgetwin.io/manifest-file';

export interface FolderSyncResult {
  applied: number;
  deleted: number;
  /** error lines; when present nothing was changed */
  findings: string[];
}

export interface ManifestFolderOptions {
  dir: string;
  store: EmbeddedStore;
  logger?: Logger;
  /** each protocol driver's config check (as on apply) */
  protocols?: ProtocolValidators;
  /** wait this long after the last file event before syncing (default 200 ms) */
  debounceMs?: number;
  /** called after every sync (tests, metrics) */
  onSync?: (result: FolderSyncResult) => void;
}

const MANIFEST = /\.(ya?ml|json)$/i;

export class ManifestFolder {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private readonly logger: Logger;

  constructor(private readonly opts: ManifestFolderOptions) {
    this.logger = (opts.logger ?? pino({ level: 'silent' })).child({ manifestDir: opts.dir });
  }

  /** Syncs once, then on every change in the folder. */
  start(): FolderSyncResult {
    const first = this.sync();
    this.watcher = watch(this.opts.dir, () => this.schedule());
    this.watcher.on('error', (err) => this.logger.error({ err }, 'manifest folder watch failed'));
    return first;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
  }

  sync(): FolderSyncResult {
    const result = this.syncOnce();
    if (result.findings.length > 0)
      this.logger.error({ findings: result.findings }, 'manifest folder does not validate; store left as it was');
    else if (result.applied + result.deleted > 0)
      this.logger.info({ ...result, findings: undefined }, 'manifest folder synced');
    this.opts.onSync?.(result);
    return result;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.sync();
      } catch (e) {
        this.logger.error({ err: e }, 'manifest folder sync failed');
      }
    }, this.opts.debounceMs ?? 200);
  }

  private syncOnce(): FolderSyncResult {
    const { store, dir } = this.opts;
    let files: ManifestFile[];
    try {
      files = readdirSync(dir)
        .filter((f) => MANIFEST.test(f))
        .sort()
        .map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
    } catch (e) {
      return {
        applied: 0,
        deleted: 0,
        findings: [`${dir}: -/-/-: -: cannot read the manifest folder: ${(e as Error).message}`],
      };
    }
    const fromFolder = (o: SourceObject) => o.metadata.annotations?.[FOLDER_ANNOTATION] !== undefined;
    // Models that stay in the store whatever the folder says (applied by hand) count as existing.
    const checked = checkManifests(
      files,
      store.models().filter((m) => !fromFolder(m)),
      this.opts.protocols,
    );
    if (checked.findings.length > 0) return { applied: 0, deleted: 0, findings: checked.findings };

    const wanted = checked.objects.map((c) => {
      const o = structuredClone(c.object);
      o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [FOLDER_ANNOTATION]: c.file.slice(dir.length + 1) };
      return o;
    });
    const wantedKeys = new Set(wanted.map((o) => `${o.kind}/${objectKey(o)}`));
    const gone: ObjectRef[] = [...store.devices(), ...store.models()]
      .filter((o) => fromFolder(o) && !wantedKeys.has(`${o.kind}/${objectKey(o)}`))
      .map((o) => ({ kind: o.kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name }));
    // A model leaving the folder while a device outside it still uses it stays, with a warning.
    const remainingDevices = store
      .devices()
      .filter(
        (d) =>
          !gone.some((g) => g.kind === 'Device' && g.namespace === d.metadata.namespace && g.name === d.metadata.name),
      );
    const deletable = gone.filter((g) => {
      if (g.kind !== 'DeviceModel') return true;
      const user = remainingDevices.find(
        (d) =>
          d.metadata.namespace === g.namespace &&
          d.spec.deviceModelRef?.name === g.name &&
          !wantedKeys.has(`Device/${objectKey(d)}`),
      );
      const usedByWanted = wanted.some(
        (o) => o.kind === 'Device' && o.metadata.namespace === g.namespace && o.spec.deviceModelRef?.name === g.name,
      );
      if (user || usedByWanted) {
        this.logger.warn(
          { model: `${g.namespace}/${g.name}`, usedBy: user ? objectKey(user) : 'a device in the folder' },
          'model left the folder but is still used; kept',
        );
        return false;
      }
      return true;
    });
    const ordered = [...wanted].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'DeviceModel' ? -1 : 1));
    const applied = ordered.length ? store.apply(ordered).filter((r) => r.action !== 'unchanged').length : 0;
    const devicesFirst = [...deletable].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'Device' ? -1 : 1));
    if (devicesFirst.length) store.delete(devicesFirst);
    return { applied, deleted: devicesFirst.length, findings: [] };
  }
}
