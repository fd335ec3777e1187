/**
 * POST /v1/files/{dir} with a multipart/form-data body: every file part is stored (uncommitted)
 * before any is committed, so a bad or cut-off part commits nothing; destinations are checked
 * before the commits, which then run one file at a time. Parts without a filename (plain fields)
 * are ignored within the field limits.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { FileWriter, PutResult } from '../client/file-writer.js';
import { checkName, RemotePath } from '../proto/path.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { GatewayCtx, RouteDeps } from './gateway-context.js';
import { contentTypeAttrs } from './content-headers.js';

/** A multipart filename is one path segment: no '/', '\', '.', '..', control characters. */
function checkFilename(name: string | undefined, bytesMax: number): string {
  if (name === undefined || name === '') throw new CairnError('InvalidPath', 'a file part has no filename');
  if (Buffer.byteLength(name) > bytesMax) throw new CairnError('InvalidPath', `filename longer than ${bytesMax} bytes`);
  if (name.includes('\\')) throw new CairnError('InvalidPath', 'a filename may not contain "\\"');
  checkName(name);
  return name;
}

/** Store every file part (uncommitted), then commit them all; any failure commits nothing. */
export async function multipartUpload(ctx: GatewayCtx, dir: RemotePath, deps: RouteDeps): Promise<PutResult[]> {
  const { client, limits } = deps;
  // The whole body is metered (budget and idle cut-off); stored bytes of every part free it.
  const upload = deps.uploads.begin('the multipart upload');
  let storedBytes = 0;
  const ac = new AbortController();
  const writers: Array<{ path: RemotePath; w: FileWriter }> = [];
  const stored: Array<Promise<unknown>> = [];
  const names = new Set<string>();
  let failure: Error | null = null;
  const fail = (e: Error): void => {
    if (failure) return;
    failure = e;
    ac.abort(e);
  };
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: ctx.req.headers,
      // Keep the filename as sent, so "../x" or "a/b" is refused instead of silently cut down.
      preservePath: true,
      limits: {
        files: limits.multipartFilesMax,
        fields: limits.multipartFieldsMax,
        fieldSize: limits.multipartFieldBytesMax,
        parts: limits.multipartFilesMax + limits.multipartFieldsMax,
        fileSize: limits.uploadBytesMax,
      },
    });
  } catch (e) {
    upload.end();
    throw new CairnError('InvalidArgument', `bad multipart request: ${e instanceof Error ? e.message : String(e)}`);
  }
  bb.on('file', (_field: string, stream: Readable, info: busboy.FileInfo) => {
    stream.on('error', () => undefined); // a part cut short fails the request through bb's own error
    if (failure) return void stream.resume();
    let name: string;
    let path: RemotePath;
    let w: FileWriter;
    try {
      name = checkFilename(info.filename, limits.filenameBytesMax);
      if (names.has(name)) throw new CairnError('InvalidArgument', `file "${name}" appears twice`);
      path = dir.child(name);
      // The part's own Content-Type (busboy: text/plain when the part names none, as RFC 7578).
      let last = 0;
      const onProgress = (b: number): void => {
        storedBytes += b - last;
        last = b;
        upload.stored(storedBytes);
      };
      w = client.createWriteStream(path, { overwrite: true, deferCommit: true, signal: ac.signal, attrs: contentTypeAttrs(info.mimeType), requestId: ctx.state.requestId, onProgress });
    } catch (e) {
      fail(e as Error);
      return void stream.resume();
    }
    names.add(name);
    writers.push({ path, w });
    stream.once('limit', () => fail(new CairnError('TooLarge', `file "${name}" exceeds ${limits.uploadBytesMax} bytes`)));
    stored.push(
      pipeline(stream, w)
        .then(() => w.done)
        .catch((e: unknown) => {
          fail(e as Error);
          stream.resume();
        }),
    );
  });
  bb.on('filesLimit', () => fail(new CairnError('TooLarge', `more than ${limits.multipartFilesMax} files in one request`)));
  bb.on('fieldsLimit', () => fail(new CairnError('TooLarge', `more than ${limits.multipartFieldsMax} fields in one request`)));
  bb.on('partsLimit', () => fail(new CairnError('TooLarge', 'too many parts in one request')));
  bb.on('field', (_name: string, _value: string, info: busboy.FieldInfo) => {
    if (info.valueTruncated || info.nameTruncated) fail(new CairnError('TooLarge', `a field exceeds ${limits.multipartFieldBytesMax} bytes`));
  });
  const onGone = (): void => {
    if (!ctx.req.complete) fail(new CairnError('Unavailable', 'the client went away mid-upload'));
  };
  ctx.req.once('close', onGone);
  const meter = upload.meter();
  try {
    // pipe, not pipeline: a malformed body fails busboy without destroying the request (which
    // would look like the client going away); the error answer then closes the connection.
    await new Promise<void>((resolve) => {
      bb.once('close', resolve);
      // Cut off (idle) or no room: the request goes, nothing is committed.
      meter.once('error', (e: Error) => {
        fail(e);
        ctx.req.unpipe(meter);
        ctx.req.destroy();
        resolve();
      });
      // on, not once: an error event with no listener would take the process down.
      bb.on('error', (e: unknown) => {
        fail(isCairnError(e) ? e : new CairnError('InvalidArgument', `bad multipart body: ${e instanceof Error ? e.message : String(e)}`));
        ctx.req.unpipe(meter);
        meter.unpipe(bb);
        resolve();
      });
      ctx.req.once('close', () => resolve());
      ctx.req.pipe(meter).pipe(bb);
    });
    await Promise.all(stored);
    if (!failure && writers.length === 0) fail(new CairnError('InvalidArgument', 'the request has no file part'));
    // Destinations that cannot take a file refuse before anything is committed.
    if (!failure) {
      for (const { path } of writers) {
        const st = await client.stat(path).catch((e: unknown) => (isCairnError(e, 'NotFound') ? null : Promise.reject(e)));
        if (st?.type === 'dir') fail(new CairnError('IsADirectory', `${path} is a directory`));
      }
    }
    if (failure) throw failure;
    const out: PutResult[] = [];
    for (const { w } of writers) out.push(await w.commit());
    return out;
  } finally {
    ctx.req.off('close', onGone);
    for (const { w } of writers) if (failure) w.destroy(failure);
    meter.destroy(); // its idle timer ends with the request
    upload.end();
  }
}
