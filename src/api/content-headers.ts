/**
 * A file's content headers on the gateway (CONTRACT: "the request's Content-Type is stored and
 * returned by GET/HEAD"): the `content-type` attribute an upload stores, and what a download
 * answers as Content-Type and Content-Disposition.
 */
import type { FileAttrs } from '../proto/file-attrs.js';

/** What GET/HEAD answer as Content-Type for a file stored without one. */
export const CONTENT_TYPE_DEFAULT = 'application/octet-stream';

/** The attributes an upload's Content-Type stores, as sent: none when it has none. */
export function contentTypeAttrs(contentType: string | undefined): FileAttrs {
  const v = contentType?.trim() ?? '';
  return v === '' ? {} : { 'content-type': v };
}

/** `attachment; filename*=UTF-8''<name>`, the name percent-encoded as RFC 8187 asks. */
export function attachmentDisposition(name: string): string {
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename*=UTF-8''${encoded}`;
}

/** Content-Type and Content-Disposition of a file's download, from its attributes. */
export function contentHeaders(name: string, attrs: FileAttrs): { type: string; disposition: string } {
  return { type: attrs['content-type'] ?? CONTENT_TYPE_DEFAULT, disposition: attrs['content-disposition'] ?? attachmentDisposition(name) };
}
