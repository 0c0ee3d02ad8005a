// Judges a scenario's expectations: conditions at an instant, by a time, always, and facts about
// the emitted events. Each failure says which expectation, at what simulated time, and what was seen.

import { copyHosts, masters, observedHostState, runningHosts } from "./observe.ts";
import type { Condition, EventMatch, Expectation } from "./scenario-types.ts";
import type { TimelineEntry, World } from "./world.ts";

export interface ExpectationResult {
  index: number;
  ok: boolean;
  /** The expectation in words. */
  text: string;
  /** When it failed, or when it was judged. */
  atMs: number;
  seen: string;
}

/** Whether the condition holds now, and what was seen (for messages). */
export function evaluate(world: World, condition: Condition): { holds: boolean; seen: string } {
  switch (condition.subject) {
    case "vm": {
      const running = runningHosts(world, condition.vm);
      const anywhere = copyHosts(world, condition.vm);
      let holds = true;
      if (condition.state === "running" && running.length === 0) holds = false;
      if (condition.state === "down" && running.length > 0) holds = false;
      if (condition.on !== undefined && !running.some((h) => condition.on!.includes(h))) holds = false;
      if (condition.notOn !== undefined && anywhere.some((h) => condition.notOn!.includes(h))) holds = false;
      const seen =
        anywhere.length === 0
          ? `${condition.vm} was down`
          : `${condition.vm} was on ${describeCopies(world, condition.vm)}`;
      return { holds, seen };
    }
    case "host": {
      const state = observedHostState(world, condition.host);
      return { holds: state === condition.state, seen: `${condition.host} was ${state}` };
    }
    case "master": {
      const list = masters(world);
      const m = condition.master;
      const holds =
        list.length > 0 &&
        ("in" in m ? list.every((h) => m.in.includes(h)) : list.every((h) => !m.notIn.includes(h)));
      return { holds, seen: list.length === 0 ? "there was no master" : `master(s): ${list.join(", ")}` };
    }
    default: {
      const never: never = condition;
      throw new Error(`unhandled condition ${JSON.stringify(never)}`);
    }
  }
}

function describeCopies(world: World, vm: string): string {
  return (world.copies.get(vm) ?? []).map((c) => `${c.host} (${c.state})`).join(", ");
}

export function describeCondition(condition: Condition): string {
  switch (condition.subject) {
    case "vm": {
      const parts = [condition.vm];
      if (condition.state !== undefined) parts.push(condition.state);
      if (condition.on !== undefined) parts.push(`on ${condition.on.join("|")}`);
      if (condition.notOn !== undefined) parts.push(`not on ${condition.notOn.join(",")}`);
      return parts.join(" ");
    }
    case "host":
      return `host ${condition.host} ${condition.state}`;
    case "master":
      return "in" in condition.master
        ? `master in ${condition.master.in.join(",")}`
        : `master not ${condition.master.notIn.join(",")}`;
    default: {
      const never: never = condition;
      throw new Error(`unhandled condition ${JSON.stringify(never)}`);
    }
  }
}

export function matches(entry: TimelineEntry, match: EventMatch): boolean {
  const event = entry.event;
  if (event === null || event.type !== match.type) return false;
  for (const [key, value] of Object.entries(match.fields)) {
    if (String((event as unknown as Record<string, unknown>)[key]) !== String(value)) return false;
  }
  return true;
}

function describeMatch(match: EventMatch): string {
  const fields = Object.entries(match.fields).map(([k, v]) => `${k}=${v}`);
  return [match.type, ...fields].join(" ");
}

/** Watches conditions while the run goes on; event expectations are judged at the end. */
export class ExpectationTracker {
  private readonly pending = new Map<number, ExpectationResult>();
  readonly results: ExpectationResult[] = [];

  constructor(
    private readonly world: World,
    private readonly expectations: Expectation[],
  ) {
    for (const e of expectations) {
      if (e.kind === "at") {
        world.queue.push(e.atMs, () => {
          const r = evaluate(world, e.condition);
          this.settle(
            e.index,
            r.holds,
            `at ${fmt(e.atMs)}: ${describeCondition(e.condition)}`,
            world.nowMs,
            r.seen,
          );
        });
      }
      if (e.kind === "by") {
        world.queue.push(e.byMs, () => this.checkBy(e, true));
      }
    }
  }

  private settle(index: number, ok: boolean, text: string, atMs: number, seen: string): void {
    if (this.results.some((r) => r.index === index)) return;
    this.results.push({ index, ok, text, atMs, seen });
  }

  private checkBy(e: Extract<Expectation, { kind: "by" }>, final: boolean): void {
    if (this.results.some((r) => r.index === e.index)) return;
    const r = evaluate(this.world, e.condition);
    const text = `by ${fmt(e.byMs)}: ${describeCondition(e.condition)}`;
    if (r.holds) this.settle(e.index, true, text, this.world.nowMs, r.seen);
    else if (final) this.settle(e.index, false, text, this.world.nowMs, r.seen);
    else this.pending.set(e.index, { index: e.index, ok: false, text, atMs: this.world.nowMs, seen: r.seen });
  }

  /** Called after every simulated step. */
  afterStep(): void {
    for (const e of this.expectations) {
      if (e.kind === "by" && this.world.nowMs <= e.byMs) this.checkBy(e, false);
      if (e.kind === "always" && !this.results.some((r) => r.index === e.index)) {
        const r = evaluate(this.world, e.condition);
        if (!r.holds)
          this.settle(e.index, false, `always: ${describeCondition(e.condition)}`, this.world.nowMs, r.seen);
      }
    }
  }

  finish(timeline: TimelineEntry[], endMs: number): ExpectationResult[] {
    for (const e of this.expectations) {
      if (this.results.some((r) => r.index === e.index)) continue;
      switch (e.kind) {
        case "at":
        case "by":
          this.settle(
            e.index,
            false,
            `${e.kind}: ${describeCondition(e.condition)}`,
            endMs,
            "the run ended first",
          );
          break;
        case "always":
          this.settle(e.index, true, `always: ${describeCondition(e.condition)}`, endMs, "held throughout");
          break;
        case "event": {
          const hits = timeline.filter(
            (t) => matches(t, e.match) && (e.byMs === undefined || t.atMs <= e.byMs),
          );
          const ok = e.count === undefined ? hits.length > 0 : hits.length === e.count;
          const text = `event ${describeMatch(e.match)}${e.byMs === undefined ? "" : ` by ${fmt(e.byMs)}`}${e.count === undefined ? "" : ` ${e.count} time(s)`}`;
          this.settle(e.index, ok, text, hits[0]?.atMs ?? endMs, `${hits.length} matching event(s)`);
          break;
        }
        case "never": {
          const hit = timeline.find((t) => matches(t, e.match));
          this.settle(
            e.index,
            hit === undefined,
            `never ${describeMatch(e.match)}`,
            hit?.atMs ?? endMs,
            hit === undefined ? "none" : `${hit.host} ${hit.type} ${hit.text}`,
          );
          break;
        }
        case "order": {
          const firsts = e.vms.map((vm) =>
            timeline.findIndex((t) => t.event?.type === e.of && t.event.vm === vm),
          );
          const missing = e.vms.filter((_, i) => firsts[i]! < 0);
          const ok = missing.length === 0 && firsts.every((v, i) => i === 0 || v > firsts[i - 1]!);
          const seenOrder = e.vms
            .map((vm, i) => ({ vm, at: firsts[i]! }))
            .filter((x) => x.at >= 0)
            .sort((a, b) => a.at - b.at)
            .map((x) => `${x.vm}@${fmt(timeline[x.at]!.atMs)}`);
          this.settle(
            e.index,
            ok,
            `order of ${e.of}: ${e.vms.join(" < ")}`,
            endMs,
            missing.length > 0
              ? `no ${e.of} for ${missing.join(", ")}; seen ${seenOrder.join(" < ")}`
              : seenOrder.join(" < "),
          );
          break;
        }
        default: {
          const never: never = e;
          throw new Error(`unhandled expectation ${JSON.stringify(never)}`);
        }
      }
    }
    return [...this.results].sort((a, b) => a.index - b.index);
  }
}

export function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}
