/**
 * Conditional request headers (RFC 9110 §13), pure: entity tags and If-Match / If-None-Match lists.
 */

/** A strong entity tag as sent in ETag ("…"). */
export const quoteEtag = (etag: string): string => `"${etag}"`;

/**
 * Does an If-Match / If-None-Match list match this entity tag? `*` matches any existing file.
 * Comparison is strong for If-Match and weak for If-None-Match (RFC 9110 §13.1.1–2): a W/ tag
 * never matches in strong comparison.
 */
export function etagListMatches(header: string, etag: string | null, weak: boolean): boolean {
  const list = header.trim();
  if (list === '*') return etag !== null;
  if (etag === null) return false;
  for (const raw of list.split(',')) {
    let t = raw.trim();
    if (t.startsWith('W/')) {
      if (!weak) continue;
      t = t.slice(2);
    }
    if (t === quoteEtag(etag)) return true;
  }
  return false;
}
