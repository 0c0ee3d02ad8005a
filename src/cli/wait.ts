// Waiting for a long action to land (a host entering maintenance, a BMC reporting power off): poll,
// tell the user on stderr whenever the state moves, give up after a deadline with the last state.
import { InvalidArgumentError, Option } from "commander";
import { formatDuration, parseDuration } from "../sim/duration.ts";
import { CliError } from "./api-client.ts";

export interface WaitSpec<T> {
  /** What is awaited, for the messages: "h1 to enter maintenance". */
  goal: string;
  read: () => Promise<T>;
  /** The state as one word or phrase, shown as it changes. */
  stateOf: (value: T) => string;
  reached: (value: T) => boolean;
  timeoutMs: number;
  intervalMs: number;
  progress: (line: string) => void;
}

export async function waitUntil<T>(spec: WaitSpec<T>): Promise<T> {
  const startedMs = Date.now();
  let lastState: string | null = null;
  for (;;) {
    const value = await spec.read();
    const state = spec.stateOf(value);
    const elapsedS = Math.round((Date.now() - startedMs) / 1000);
    if (state !== lastState) {
      spec.progress(`waiting for ${spec.goal}: ${state} (${elapsedS}s)`);
      lastState = state;
    }
    if (spec.reached(value)) {
      spec.progress(`done: ${spec.goal} after ${elapsedS}s`);
      return value;
    }
    if (Date.now() - startedMs >= spec.timeoutMs)
      throw new CliError(`gave up waiting for ${spec.goal} after ${elapsedS}s; still ${state}`, 1);
    await new Promise((resolve) => setTimeout(resolve, spec.intervalMs));
  }
}

/** `--timeout <duration>` for --wait, in milliseconds, its default shown as people write it. */
export function timeoutOption(defaultMs: number): Option {
  return new Option("--timeout <duration>", "how long --wait waits (e.g. 90s, 10m)")
    .argParser((value: string) => {
      const ms = parseDuration(value);
      if (ms === undefined)
        throw new InvalidArgumentError(`--timeout must look like 90s, 10m or 500ms, got "${value}"`);
      return ms;
    })
    .default(defaultMs, formatDuration(defaultMs));
}

export const waitPollMs = 1000;
