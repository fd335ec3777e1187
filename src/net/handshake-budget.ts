/**
 * The budget of connections that have not authenticated yet: at most `totalMax` at once, and at
 * most `perAddrMax` from one source address. Admitting a connection beyond a bound closes the
 * oldest unauthenticated connection of that address (or, for the total bound, of the address
 * holding the most), never the newcomer.
 *
 * Why the oldest goes: refusing newcomers would let a stranger who keeps the budget full lock
 * out every dialer behind the same address (NAT, loopback) and, with many addresses, everyone.
 * Closing the oldest gives every fresh dialer a handshake window, and a flood from one address
 * only ever evicts its own connections until it is the fullest source.
 */
export class HandshakeBudget<T> {
  private readonly totalMax: number;
  private readonly perAddrMax: number;
  private readonly evict: (conn: T) => void;
  /** Source address → its pending connections, oldest first (Set keeps insertion order). */
  private readonly byAddr = new Map<string, Set<T>>();
  private total = 0;

  /** `evict(conn)` closes a connection the budget dropped (it is already out of the budget). */
  constructor(options: { totalMax: number; perAddrMax: number }, evict: (conn: T) => void) {
    this.totalMax = Math.max(1, options.totalMax);
    this.perAddrMax = Math.max(1, options.perAddrMax);
    this.evict = evict;
  }

  get size(): number {
    return this.total;
  }

  /** Count `conn` from `addr`, first evicting what the bounds require. */
  admit(addr: string, conn: T): void {
    const own = this.byAddr.get(addr);
    if (own !== undefined && own.size >= this.perAddrMax) this.evictOldest(addr, own);
    else if (this.total >= this.totalMax) this.evictFromFullest();
    let set = this.byAddr.get(addr);
    if (set === undefined) {
      set = new Set();
      this.byAddr.set(addr, set);
    }
    set.add(conn);
    this.total++;
  }

  /** `conn` authenticated, failed or closed: it no longer counts. A no-op when not counted. */
  release(addr: string, conn: T): void {
    const set = this.byAddr.get(addr);
    if (set === undefined || !set.delete(conn)) return;
    this.total--;
    if (set.size === 0) this.byAddr.delete(addr);
  }

  private evictFromFullest(): void {
    let fullest: [string, Set<T>] | null = null;
    for (const entry of this.byAddr) if (fullest === null || entry[1].size > fullest[1].size) fullest = entry;
    if (fullest !== null) this.evictOldest(fullest[0], fullest[1]);
  }

  private evictOldest(addr: string, set: Set<T>): void {
    const oldest = set.values().next().value as T;
    this.release(addr, oldest);
    this.evict(oldest);
  }
}
