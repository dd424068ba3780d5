/**
 * The one bounded per-peer table. Anything a remote peer can make this peer remember (its heartbeat, its
 * summary, the highest round it signed) is keyed by an identity that costs nothing to make, so every such
 * table keeps at most `max` entries: writing a key makes it the newest, and beyond `max` the oldest goes.
 * Entries stay in the order of their last write, so stale ones are dropped from the front cheaply.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly max: number) {
    super();
  }

  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    while (this.size > this.max) super.delete(this.keys().next().value as K);
    return this;
  }

  /** Drops the oldest entries while `stale` holds for them (written longest ago first). */
  dropOldestWhile(stale: (value: V, key: K) => boolean): void {
    for (const [key, value] of this) {
      if (!stale(value, key)) return;
      super.delete(key);
    }
  }

  /** Drops every entry for which `stale` holds. */
  dropWhere(stale: (value: V, key: K) => boolean): void {
    for (const [key, value] of this) if (stale(value, key)) super.delete(key);
  }
}
