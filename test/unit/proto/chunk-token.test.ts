import { describe, expect, it } from 'vitest';
import { CHUNK_TOKEN_CHARS, ChunkToken, GRANT_PREFIX_BYTES, WRITE_GRANT_CHARS } from '../../../src/proto/chunk-token.js';
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

  describe('write grants', () => {
    const PREFIX = '0123456789abcdef';
    const inGrant = (suffix: number): string => PREFIX + suffix.toString(16).padStart(16, '0');

    it('a grant lets its holder write any chunk whose id starts with the granted prefix, and nothing else', () => {
      const { tokens } = fixture();
      const g = tokens.signGrantFor(PREFIX, 60_000);
      expect(g).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(g.length).toBe(WRITE_GRANT_CHARS);
      expect(PREFIX.length).toBe(GRANT_PREFIX_BYTES * 2);
      expect(tokens.verifyGrant(g)).toBe(PREFIX);
      for (const n of [0, 1, 0xfff, 2 ** 40]) {
        expect(tokens.verify(g, 'write', inGrant(n))).toBe('write');
        expect(tokens.verify(g, ['write', 'copy'], inGrant(n))).toBe('write'); // the chunk PUT route
      }
      // Wrong prefix: another chunk, a prefix differing in its last digit, the prefix elsewhere in the id.
      for (const id of [cid(1), '0123456789abcdee' + '0'.repeat(16), '0'.repeat(16) + PREFIX]) {
        expect(code(() => tokens.verify(g, 'write', id))).toBe('Unauthorized');
        expect(code(() => tokens.verifyGrant(g, id))).toBe('Unauthorized');
      }
      // A grant never reads, copies or deletes, even its own chunks.
      expect(code(() => tokens.verify(g, ['read', 'copy'], inGrant(1)))).toBe('Unauthorized');
      expect(code(() => tokens.verify(g, 'delete', inGrant(1)))).toBe('Unauthorized');
      expect(code(() => tokens.verify(g, 'copy', inGrant(1)))).toBe('Unauthorized');
    });

    it('refuses forged and tampered grants, another cluster, and garbage', () => {
      const { tokens, clock } = fixture();
      const g = tokens.signGrantFor(PREFIX, 60_000);
      for (let i = 0; i < g.length; i++) {
        const forged = g.slice(0, i) + (g[i] === 'A' ? 'B' : 'A') + g.slice(i + 1);
        expect(code(() => tokens.verify(forged, 'write', inGrant(1))), `character ${i}`).toBe('Unauthorized');
      }
      // A grant re-pointed at another prefix (the bytes changed, the MAC kept) is caught by the MAC.
      const raw = Buffer.from(g, 'base64url');
      raw.write('fedcba9876543210', 10, 'hex');
      expect(code(() => tokens.verify(raw.toString('base64url'), 'write', 'fedcba9876543210' + '0'.repeat(16)))).toBe('Unauthorized');
      const other = new ChunkToken({ clock }, { secret: 'another-cluster-secret-entirely' });
      expect(code(() => other.verify(g, 'write', inGrant(1)))).toBe('Unauthorized');
      for (const junk of [undefined, '', 'A'.repeat(WRITE_GRANT_CHARS), '!'.repeat(WRITE_GRANT_CHARS), g + 'A']) {
        expect(code(() => tokens.verifyGrant(junk))).toBe('Unauthorized');
      }
      expect(code(() => tokens.signGrant('0123', 1))).toBe('InvalidArgument');
      expect(code(() => tokens.signGrant(PREFIX.toUpperCase(), 1))).toBe('InvalidArgument');
    });

    it('expires against the injected clock, with the configured skew', () => {
      const { tokens, clock } = fixture();
      const g = tokens.signGrantFor(PREFIX, 5000);
      clock.t += 5000 + 1000;
      expect(tokens.verify(g, 'write', inGrant(7))).toBe('write');
      clock.t += 1;
      expect(code(() => tokens.verify(g, 'write', inGrant(7)))).toBe('Unauthorized');
      expect(code(() => tokens.verifyGrant(g))).toBe('Unauthorized');
    });

    it('a per-chunk token is not a grant, and a grant is not a per-chunk token', () => {
      const { tokens } = fixture();
      const id = inGrant(3);
      const perChunk = tokens.signFor('write', id, 60_000);
      expect(code(() => tokens.verifyGrant(perChunk))).toBe('Unauthorized');
      expect(code(() => tokens.verifyGrant(perChunk, id))).toBe('Unauthorized');
      // The same fields laid out as a grant (version byte 2, the id's first 8 bytes as prefix,
      // the per-chunk MAC) do not verify: the MAC inputs differ.
      const t = Buffer.from(perChunk, 'base64url');
      const asGrant = Buffer.concat([Buffer.from([2]), t.subarray(1, 10), Buffer.from(PREFIX, 'hex'), t.subarray(10)]).toString('base64url');
      expect(asGrant.length).toBe(WRITE_GRANT_CHARS);
      expect(code(() => tokens.verify(asGrant, 'write', id))).toBe('Unauthorized');
      // And a grant's bytes relabelled as a per-chunk token (version 1, its MAC) do not verify either.
      const g = Buffer.from(tokens.signGrantFor(PREFIX, 60_000), 'base64url');
      const asToken = Buffer.concat([Buffer.from([1]), g.subarray(1, 10), g.subarray(18)]).toString('base64url');
      expect(asToken.length).toBe(CHUNK_TOKEN_CHARS);
      expect(code(() => tokens.verify(asToken, 'write', id))).toBe('Unauthorized');
    });
  });
});
