/**
 * The onWatchesServed half of Vm, shared by the backends: the functions told
 * when a batch of watchEventFd callbacks ends, and the running of a batch.
 */
export class WatchBatches {
  private readonly ends = new Set<() => void>();

  /** Vm.onWatchesServed: `fn` runs after every batch until the returned function unregisters it. */
  add(fn: () => void): () => void {
    const f = (): void => fn(); // its own entry, however often the same fn is added
    this.ends.add(f);
    return () => { this.ends.delete(f); };
  }

  /**
   * Runs one batch: each watch callback, then each registered end. A failure
   * stops none of the others; the first is thrown after them all.
   */
  run(callbacks: Iterable<() => void>): void {
    let failure: unknown = null;
    for (const f of [...callbacks, ...this.ends]) {
      try {
        f();
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== null) throw failure;
  }
}
