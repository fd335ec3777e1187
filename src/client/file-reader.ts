import type { Readable } from 'node:stream';
import { CairnError } from '../util/errors.js';
import type { ClientCore } from './cairn-client.js';

export interface OpenRange {
  /** First byte. @default 0 */
  start?: number;
  /** One past the last byte (exclusive), clamped to the size. @default the size */
  end?: number;
  signal?: AbortSignal;
}

export interface OpenResult {
  size: number;
  etag: string | null;
  mtime: number;
  start: number;
  end: number;
  stream: Readable;
}

export class FileReader {
  static open(_core: ClientCore, _path: string, _range: OpenRange, _o: { readAhead: number }): Promise<OpenResult> {
    return Promise.reject(new CairnError('Internal', 'not yet'));
  }
  static lazy(_core: ClientCore, _path: string, _range: OpenRange, _o: { readAhead: number }): Readable {
    throw new CairnError('Internal', 'not yet');
  }
}
