import { Writable } from 'node:stream';
import { CairnError } from '../util/errors.js';
import type { ClientCore } from './cairn-client.js';

export interface WriteOptions {
  /** Replace an existing file atomically. @default false (AlreadyExists) */
  overwrite?: boolean;
  /** Chunk size of this file. @default the client's, else the cluster's */
  chunkSize?: number;
  signal?: AbortSignal;
  /** Called with the total bytes durably stored so far (chunks acknowledged by every replica). */
  onProgress?(bytes: number): void;
}

export interface PutResult {
  path: string;
  size: number;
  etag: string;
}

export class FileWriter extends Writable {
  readonly done: Promise<PutResult>;
  constructor(_core: ClientCore, _path: string, _opts: WriteOptions, _limits: { uploadsInflight: number }) {
    super();
    this.done = Promise.reject(new CairnError('Internal', 'not yet'));
    this.done.catch(() => undefined);
  }
}
