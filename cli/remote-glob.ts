/**
 * Globbing of remote paths, as a shell globs local ones (quote the pattern so the shell leaves
 * it alone: `cairn ls '/isos/*.iso'`). Within ONE segment: `*` any run of characters, `?` one
 * character, `[abc]`, `[a-z]`, `[!a-z]`/`[^a-z]` one character of (not of) a set; `\` makes the
 * next character literal. A wildcard never matches '/', and a name starting with '.' is matched
 * only by a pattern segment that starts with '.' (as in a shell).
 *
 * Expansion lists only the directories a wildcard segment needs (one fs.list each, paged), in
 * name order. Matches come back sorted; none is NotFound ("no match"), unless a file or directory
 * of exactly that (literal) name exists, which is then the one match.
 */
import type { CairnClient } from '../src/client/index.js';
import { RemotePath } from '../src/proto/path.js';
import { CairnError, isCairnError } from '../src/util/errors.js';
import { remotePath } from './client-options.js';

/** Whether a segment holds an unescaped wildcard. */
export function hasWildcard(segment: string): boolean {
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?') return true;
    else if (ch === '[' && classEnd(segment, i) > 0) return true;
  }
  return false;
}

/** Index of the ']' closing the class opened at `open`, or -1 when it is not a class. */
function classEnd(p: string, open: number): number {
  let j = open + 1;
  if (p[j] === '!' || p[j] === '^') j++;
  if (p[j] === ']') j++; // a leading ']' is a member
  for (; j < p.length; j++) if (p[j] === ']') return j;
  return -1;
}

const escapeRe = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** The RegExp matching whole names against one pattern segment. */
export function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i]!;
    if (ch === '\\' && i + 1 < segment.length) re += escapeRe(segment[++i]!);
    else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[' && classEnd(segment, i) > 0) {
      const end = classEnd(segment, i);
      let body = segment.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      // Keep ranges (a-z); escape everything else that a JS class would read specially.
      const members = body.replace(/[\\\]^[]/g, '\\$&');
      re += negate ? `[^/${members}]` : `[${members}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`, 'u');
}

/** Whether `name` matches one pattern segment (a leading '.' only by a leading '.'). */
export function matchSegment(segment: string, name: string): boolean {
  if (name.startsWith('.') && !segment.startsWith('.')) return false;
  return segmentRegExp(segment).test(name);
}

/** A segment's literal text (escapes removed): the name to look up when it has no wildcard. */
function literal(segment: string): string {
  return segment.replace(/\\(.)/g, '$1');
}

async function existsAs(client: CairnClient, path: RemotePath): Promise<'file' | 'dir' | null> {
  try {
    return (await client.stat(path)).type;
  } catch (err) {
    if (isCairnError(err, 'NotFound') || isCairnError(err, 'NotADirectory')) return null;
    throw err;
  }
}

/**
 * The remote paths a typed argument names: itself when it has no wildcard (not checked for
 * existence: the command reports a missing path its own way), else every existing match.
 */
export async function expandRemote(client: CairnClient, typed: string): Promise<RemotePath[]> {
  const raw = typed.length > 1 && typed.endsWith('/') ? typed.slice(0, -1) : typed;
  if (!raw.startsWith('/')) return [remotePath(typed)];
  const segs = raw === '/' ? [] : raw.slice(1).split('/');
  if (!segs.some(hasWildcard)) return [remotePath(typed)];
  let current: Array<{ path: RemotePath; type: 'file' | 'dir' }> = [{ path: RemotePath.ROOT, type: 'dir' }];
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    const next: typeof current = [];
    for (const at of current) {
      if (at.type !== 'dir') continue;
      if (!hasWildcard(seg)) {
        const p = at.path.child(literal(seg));
        const type = await existsAs(client, p);
        if (type) next.push({ path: p, type });
        continue;
      }
      for await (const e of client.ls(at.path)) {
        if (!matchSegment(seg, e.name)) continue;
        if (!last && e.type !== 'dir') continue;
        next.push({ path: at.path.child(e.name), type: e.type });
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  if (current.length === 0) {
    // A name that merely looks like a pattern ("a[1]") and exists is meant literally.
    try {
      const p = remotePath(typed);
      if (await existsAs(client, p)) return [p];
    } catch (err) {
      if (!isCairnError(err, 'InvalidPath')) throw err;
    }
    throw new CairnError('NotFound', `no match: ${typed}`);
  }
  return current.map((c) => c.path).sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
}

/** expandRemote over several arguments, in order. */
export async function expandAll(client: CairnClient, typed: readonly string[]): Promise<RemotePath[]> {
  const out: RemotePath[] = [];
  for (const t of typed) out.push(...(await expandRemote(client, t)));
  return out;
}
