// The simulator's event queue: a 4-ary min-heap ordered by (time, sequence). The sequence number
// breaks ties in insertion order, which determinism requires; (time, sequence) is a total order,
// so the pop order does not depend on the heap's shape. Every simulated event passes through here:
// four children per node halve the depth, and the sifts keep the moving item in locals.

export interface Scheduled {
  atMs: number;
  seq: number;
  run: () => void;
}

const arity = 4;

export class EventQueue {
  private heap: Scheduled[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(atMs: number, run: () => void): void {
    const seq = this.seq++;
    const item: Scheduled = { atMs, seq, run };
    const heap = this.heap;
    let i = heap.length;
    heap.push(item);
    while (i > 0) {
      const parentIndex = (i - 1) >> 2;
      const parent = heap[parentIndex]!;
      if (parent.atMs < atMs || (parent.atMs === atMs && parent.seq < seq)) break;
      heap[i] = parent;
      i = parentIndex;
    }
    heap[i] = item;
  }

  peekTime(): number {
    return this.heap.length === 0 ? Number.POSITIVE_INFINITY : this.heap[0]!.atMs;
  }

  pop(): Scheduled | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    const n = heap.length;
    const lastAtMs = last.atMs;
    const lastSeq = last.seq;
    let i = 0;
    for (;;) {
      const first = arity * i + 1;
      if (first >= n) break;
      let best = first;
      let bestItem = heap[first]!;
      const end = Math.min(first + arity, n);
      for (let c = first + 1; c < end; c++) {
        const child = heap[c]!;
        if (child.atMs < bestItem.atMs || (child.atMs === bestItem.atMs && child.seq < bestItem.seq)) {
          best = c;
          bestItem = child;
        }
      }
      if (lastAtMs < bestItem.atMs || (lastAtMs === bestItem.atMs && lastSeq < bestItem.seq)) break;
      heap[i] = bestItem;
      i = best;
    }
    heap[i] = last;
    return top;
  }
}
