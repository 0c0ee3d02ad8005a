// The simulated hypervisor's listing of one host: what a driver's list() returns, in simulated
// time. Listed on every agent tick, so the previous array is returned while every item would be
// equal (the engine then skips applying it again); the copies are sorted once per change.
import type { ListedVm } from "../core/io.ts";
import type { SimHost, SimVm } from "./world.ts";

/** The host's listing, sorted by VM name; `copies` gives the host's copies oldest first. */
export function hostListing(
  host: SimHost,
  copies: () => SimVm[],
  nowMs: number,
  vmStartMs: number,
): ListedVm[] {
  const sorted = sortedCopies(host, copies);
  const cached = host.listing;
  if (
    cached !== null &&
    cached.copies === sorted &&
    listingCurrent(host, sorted, cached.listed, nowMs, vmStartMs)
  )
    return cached.listed;
  const listed = sorted.map((copy) => listedItem(host, copy, nowMs, vmStartMs));
  host.listing = { copies: sorted, listed };
  return listed;
}

function sortedCopies(host: SimHost, copies: () => SimVm[]): SimVm[] {
  let sorted = host.sortedCopies;
  if (sorted === null) {
    // Stable sort of the oldest-first index: copies of one VM keep their age order.
    sorted = copies().sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
    host.sortedCopies = sorted;
  }
  return sorted;
}

/** What one copy shows in a listing, on the host's clock. */
function listedItem(host: SimHost, copy: SimVm, nowMs: number, vmStartMs: number): ListedVm {
  const localStart = host.clockOffsetMs + copy.startedAtMs * host.clockRate;
  const booted = copy.state === "running" && nowMs - copy.startedAtMs >= vmStartMs;
  // Only guests set up to send heartbeats report them, as with the real drivers.
  const lastBeat = !booted || !copy.spec.guestHeartbeat ? null : copy.guestHung ? copy.hungAtMs : nowMs;
  return {
    vm: copy.vm,
    epoch: copy.epoch,
    state: copy.state,
    lastGuestHeartbeatMs: lastBeat === null ? null : host.clockOffsetMs + lastBeat * host.clockRate,
    startedAtMs: localStart,
  };
}

function listingCurrent(
  host: SimHost,
  copies: SimVm[],
  listed: ListedVm[],
  nowMs: number,
  vmStartMs: number,
): boolean {
  for (let i = 0; i < copies.length; i++) {
    const copy = copies[i]!;
    const item = listed[i]!;
    if (item.epoch !== copy.epoch || item.state !== copy.state) return false;
    if (item.startedAtMs !== host.clockOffsetMs + copy.startedAtMs * host.clockRate) return false;
    // A heartbeat time moves on every listing; a null one changes only when a guest boots.
    if (
      item.lastGuestHeartbeatMs !== null ||
      listedItem(host, copy, nowMs, vmStartMs).lastGuestHeartbeatMs !== null
    )
      return false;
  }
  return true;
}
