import { describe, expect, it } from 'vitest';
import { CHUNK_TOKEN_CHARS, ChunkToken } from '../../../src/proto/chunk-token.js';
import { isCairnError } from '../../../src/util/errors.js';
import { cid } from '../chunk/helpers.js';

const secret = 'an-adequately-long-cluster-secret';

function fixture(now = 1_700_000_000_000): { tokens: ChunkToken; clock: { t: number; nowMs(): number } } {
  const clock = { t: now, nowMs: () => clock.t };
  return { tokens: new ChunkToken({ clock }, { secret, skewMs: 1000 }), clock };
}

function code(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return isCairnError(e) ? e.code : String(e);
  }
}

describe('ChunkToken', () => {
  it('signs compact base64url tokens that verify for their op and chunk', () => {
    const { tokens } = fixture();
    const t = tokens.signFor('write', cid(1), 60_000);
    expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(t.length).toBe(CHUNK_TOKEN_CHARS);
    expect(tokens.verify(t, 'write', cid(1))).toBe('write');
    expect(tokens.verify(t, ['read', 'write'], cid(1))).toBe('write');
  });

  it('refuses the wrong op, the wrong chunk, another secret, tampering and garbage', () => {
    const { tokens, clock } = fixture();
    const t = tokens.signFor('read', cid(1), 60_000);
    expect(code(() => tokens.verify(t, 'write', cid(1)))).toBe('Unauthorized');
    expect(code(() => tokens.verify(t, 'delete', cid(1)))).toBe('Unauthorized');
    expect(code(() => tokens.verify(t, 'read', cid(2)))).toBe('Unauthorized');
    const other = new ChunkToken({ clock }, { secret: 'another-cluster-secret-entirely' });
    expect(code(() => other.verify(t, 'read', cid(1)))).toBe('Unauthorized');
    // Flip each character in turn: no single-character change verifies.
    for (let i = 0; i < t.length; i++) {
      const c = t[i] === 'A' ? 'B' : 'A';
      const forged = t.slice(0, i) + c + t.slice(i + 1);
      expect(code(() => tokens.verify(forged, 'read', cid(1)))).toBe('Unauthorized');
    }
    for (const junk of [undefined, '', 'x', t + 'A', t.slice(1), '!'.repeat(t.length), '0'.repeat(t.length)]) {
      expect(code(() => tokens.verify(junk, 'read', cid(1)))).toBe('Unauthorized');
    }
    // A token whose op byte was changed is caught by the MAC, not trusted.
    const raw = Buffer.from(t, 'base64url');
    raw[1] = 1; // 'write'
    expect(code(() => tokens.verify(raw.toString('base64url'), 'write', cid(1)))).toBe('Unauthorized');
  });

  it('expires against the injected clock, with the configured skew', () => {
    const { tokens, clock } = fixture();
    const t = tokens.signFor('delete', cid(3), 5000);
    clock.t += 5000 + 1000;
    expect(tokens.verify(t, 'delete', cid(3))).toBe('delete');
    clock.t += 1;
    expect(code(() => tokens.verify(t, 'delete', cid(3)))).toBe('Unauthorized');
  });

  it('refuses short secrets and bad ids at signing', () => {
    const clock = { nowMs: () => 0 };
    expect(code(() => new ChunkToken({ clock }, { secret: 'short' }))).toBe('InvalidArgument');
    expect(code(() => fixture().tokens.sign('read', '../x', 1))).toBe('InvalidArgument');
  });
});
