// Decides where the master restarts VMs after a failure. It is pure and deterministic so every
// candidate master computes the same plan, and fast enough for 10,000 VMs in one tick: rule
// lookups are resolved once per plan, and hosts sit in buckets (datastore x failover role) kept
// sorted by free capacity, so a VM usually looks at only the first few hosts of a bucket.
// Admission control never refuses a restart here (it gates user actions); only the failover host
// list of the failoverHosts policy is used, as a preference.

import type { AdmissionControl, RestartPriority, Rule } from "./cluster.ts";
import { restartPriorityOrder } from "./cluster.ts";

export interface PlacementHost {
  name: string;
  cpus: number;
  memoryMiB: number;
  /** Used by VMs currently running or already placed there. */
  usedCpus: number;
  usedMemoryMiB: number;
  datastores: string[];
  faultDomain: string;
  tags: string[];
  /** Names of VMs running on it now. */
  vms: string[];
  /** Connected, not in maintenance or standby, not dead. */
  eligible: boolean;
}

export interface PlacementVm {
  name: string;
  cpus: number;
  memoryMiB: number;
  datastore: string;
  restartPriority: RestartPriority;
}

export interface PlacementInput {
  hosts: PlacementHost[];
  vms: PlacementVm[];
  rules: Rule[];
  /** Mold's ha.tag; "" = unset. */
  haTag: string;
  admissionControl: AdmissionControl;
}

export interface Placement {
  vm: string;
  host: string;
}

/** reason: one readable sentence naming the rule or resource that blocked the VM. */
export interface Unplaced {
  vm: string;
  reason: string;
}

export interface PlacementPlan {
  placements: Placement[];
  unplaced: Unplaced[];
}

/** Rule constraints of one VM, resolved to host and group indices once per plan. */
interface VmRules {
  antiGroups: number[];
  affinityGroups: number[];
  /** Intersection of the strict vmHostAffinity rules; null = no such rule. */
  allowed: number[] | null;
  denied: number[];
  /** Host lists of preferred vmHostAffinity rules: a host missing from one costs a point. */
  preferred: number[][];
  /** Host lists of preferred vmHostAntiAffinity rules: a host in one costs a point. */
  avoided: number[][];
}

/** Eligible hosts of one datastore and failover role, best (most free) first. */
interface Bucket {
  failover: boolean;
  order: Int32Array;
}

/**
 * Per-host state and scratch marks. A mark equal to the current VM's stamp belongs to that VM,
 * so nothing is cleared between VMs. Host index order is name order, which breaks final ties.
 */
interface State {
  hosts: PlacementHost[];
  freeCpus: Float64Array;
  freeMemoryMiB: Float64Array;
  domainOf: Int32Array;
  isFailover: Uint8Array;
  anti: Int32Array;
  affinity: Int32Array;
  allow: Int32Array;
  deny: Int32Array;
  penaltyMark: Int32Array;
  /** Added to the count of preferred rules: -1 per preferred rule naming the host, +1 per avoid rule. */
  penalty: Int32Array;
  domainMark: Int32Array;
  domainCount: Int32Array;
  domainTotal: number;
  /** Set by markVm: the fewest anti-affinity mates any fault domain can offer (a lower bound). */
  floor: number;
  groupHosts: number[][];
  groupMembers: string[][];
  haTag: string;
  rules: Rule[];
}

/** Shared until a VM gets its own list: most VMs have one rule kind or none. */
const NONE: number[] = [];
const NO_LISTS: number[][] = [];
const noRules = (): VmRules => ({
  antiGroups: NONE,
  affinityGroups: NONE,
  allowed: null,
  denied: NONE,
  preferred: NO_LISTS,
  avoided: NO_LISTS,
});
const NO_RULES = noRules();

function add<T>(list: T[], item: T, none: T[]): T[] {
  if (list === none) return [item];
  list.push(item);
  return list;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Eligible hosts that see one datastore: all of them in name order, and the same in buckets. */
interface Datastore {
  hosts: number[];
  /** 1 for the hosts in `hosts`. */
  sees: Uint8Array;
  buckets: Bucket[];
}

const NO_DATASTORE: Datastore = { hosts: [], sees: new Uint8Array(0), buckets: [] };

/**
 * Plans HA restarts, in restart priority order then by name. A host qualifies when it is eligible,
 * carries haTag (if set), sees the VM's datastore, has the free CPUs and memory, and breaks no
 * strict rule. Among those, lower wins on: preferred host rules missed, no affinity mate on the
 * host, not a failover host, anti-affinity mates in its fault domain; then most free memory, most
 * free CPUs, host name.
 */
export function planPlacement(input: PlacementInput): PlacementPlan {
  const placements: Placement[] = [];
  const unplaced: Unplaced[] = [];
  // Grouped by priority first (disabled last), then a stable name sort per group: linear when
  // the caller already lists VMs by name.
  const byRank = [...restartPriorityOrder, "disabled"].map(
    () => [] as { vm: PlacementVm; rank: number; name: string }[],
  );
  for (const vm of input.vms) {
    const rank = restartPriorityOrder.indexOf(vm.restartPriority);
    byRank[rank < 0 ? restartPriorityOrder.length : rank]!.push({ vm, rank, name: vm.name });
  }
  const vms = byRank.flatMap((group) => group.sort(byName));
  const vmIndex = new Map<string, number>();
  for (let i = 0; i < vms.length; i++) vmIndex.set(vms[i]!.name, i);

  const hosts = [...input.hosts].sort(byName);
  const n = hosts.length;
  const hostIndex = new Map<string, number>();
  const domainIndex = new Map<string, number>();
  const ac = input.admissionControl;
  const failoverNames = new Set(ac.policy === "failoverHosts" ? ac.hosts : []);
  const st: State = {
    hosts,
    freeCpus: new Float64Array(n),
    freeMemoryMiB: new Float64Array(n),
    domainOf: new Int32Array(n),
    isFailover: new Uint8Array(n),
    anti: new Int32Array(n),
    affinity: new Int32Array(n),
    allow: new Int32Array(n),
    deny: new Int32Array(n),
    penaltyMark: new Int32Array(n),
    penalty: new Int32Array(n),
    // A fault domain index is below the host count.
    domainMark: new Int32Array(n),
    domainCount: new Int32Array(n),
    domainTotal: 0,
    floor: 0,
    groupHosts: [],
    groupMembers: [],
    haTag: input.haTag,
    rules: input.rules,
  };
  const byDatastore = new Map<string, number[]>();
  let usable = false;
  for (let h = 0; h < n; h++) {
    const host = hosts[h]!;
    hostIndex.set(host.name, h);
    st.freeCpus[h] = host.cpus - host.usedCpus;
    st.freeMemoryMiB[h] = host.memoryMiB - host.usedMemoryMiB;
    if (!domainIndex.has(host.faultDomain)) domainIndex.set(host.faultDomain, domainIndex.size);
    st.domainOf[h] = domainIndex.get(host.faultDomain)!;
    st.isFailover[h] = failoverNames.has(host.name) ? 1 : 0;
    if (!host.eligible || (input.haTag !== "" && !host.tags.includes(input.haTag))) continue;
    usable = true;
    for (const ds of new Set(host.datastores)) {
      const list = byDatastore.get(ds);
      if (list) list.push(h);
      else byDatastore.set(ds, [h]);
    }
  }
  st.domainTotal = domainIndex.size;

  if (input.haTag !== "" && !usable) {
    const reason = `no eligible host carries ha.tag ${input.haTag}, so HA restarts have nowhere to go`;
    for (const { vm, rank } of vms)
      unplaced.push({ vm: vm.name, reason: rank < 0 ? disabledReason(vm) : reason });
    return { placements, unplaced };
  }

  const rulesOf = resolveRules(input.rules, st, hosts, hostIndex, vmIndex, vms.length);
  const { datastores, bucketsOf } = buildBuckets(st, byDatastore);

  for (let i = 0; i < vms.length; i++) {
    const { vm, rank } = vms[i]!;
    if (rank < 0) {
      unplaced.push({ vm: vm.name, reason: disabledReason(vm) });
      continue;
    }
    const stamp = i + 1;
    const r = rulesOf[i]!;
    const hasAffinityMate = markVm(st, r, stamp);
    const ds = datastores.get(vm.datastore) ?? NO_DATASTORE;
    // Buckets give the same answer as a full scan whenever the soft keys are equal on every host.
    const simple = !hasAffinityMate && r.allowed === null && r.preferred.length + r.avoided.length === 0;
    const best = simple ? pickFromBuckets(st, ds.buckets, vm, stamp) : pickByScan(st, ds, vm, r, stamp);
    if (best < 0) {
      unplaced.push({ vm: vm.name, reason: usable ? explain(st, ds.hosts, vm, r, stamp) : NO_HOST });
      continue;
    }
    const oldMem = st.freeMemoryMiB[best]!;
    const oldCpus = st.freeCpus[best]!;
    st.freeCpus[best] = oldCpus - vm.cpus;
    st.freeMemoryMiB[best] = oldMem - vm.memoryMiB;
    for (const b of bucketsOf[best]!) sink(st, b, best, oldMem, oldCpus);
    for (const g of r.antiGroups) st.groupHosts[g]!.push(best);
    for (const g of r.affinityGroups) st.groupHosts[g]!.push(best);
    placements.push({ vm: vm.name, host: hosts[best]!.name });
  }
  return { placements, unplaced };
}

/** Resolves rules to indices: per planned VM (by planning index) its constraints; per group its hosts. */
function resolveRules(
  rules: Rule[],
  st: State,
  hosts: PlacementHost[],
  hostIndex: Map<string, number>,
  vmIndex: Map<string, number>,
  vmCount: number,
): VmRules[] {
  // Filled up front: writing at scattered indices of an empty array would make it a slow dictionary.
  const rulesOf: VmRules[] = new Array<VmRules>(vmCount).fill(NO_RULES);
  const rulesFor = (i: number): VmRules => {
    let r = rulesOf[i]!;
    if (r === NO_RULES) {
      r = noRules();
      rulesOf[i] = r;
    }
    return r;
  };
  // Group members not being planned: where they run decides what they block or attract.
  const outsiders = new Map<string, number[]>();
  for (const rule of rules) {
    if (rule.type === "vmAntiAffinity" || rule.type === "vmAffinity") {
      const g = st.groupHosts.length;
      st.groupHosts.push([]);
      st.groupMembers.push(rule.vms);
      for (const vm of rule.vms) {
        const i = vmIndex.get(vm);
        if (i === undefined) {
          const gs = outsiders.get(vm);
          if (gs) gs.push(g);
          else outsiders.set(vm, [g]);
          continue;
        }
        const r = rulesFor(i);
        const anti = rule.type === "vmAntiAffinity";
        const groups = anti ? r.antiGroups : r.affinityGroups;
        if (groups[groups.length - 1] === g) continue; // a name listed twice
        if (anti) r.antiGroups = add(groups, g, NONE);
        else r.affinityGroups = add(groups, g, NONE);
      }
    } else if (rule.type === "vmHostAffinity" || rule.type === "vmHostAntiAffinity") {
      const hs = [...new Set(rule.hosts)].flatMap((name) => {
        const h = hostIndex.get(name);
        return h === undefined ? [] : [h];
      });
      for (const vm of new Set(rule.vms)) {
        const i = vmIndex.get(vm);
        if (i === undefined) continue;
        const r = rulesFor(i);
        if (rule.type === "vmHostAffinity" && rule.strict) {
          r.allowed = r.allowed === null ? hs : r.allowed.filter((h) => hs.includes(h));
        } else if (rule.type === "vmHostAffinity") r.preferred = add(r.preferred, hs, NO_LISTS);
        else if (rule.strict) r.denied = r.denied.concat(hs);
        else r.avoided = add(r.avoided, hs, NO_LISTS);
      }
    }
    // startAfter only orders restarts; that is done elsewhere.
  }
  if (outsiders.size > 0) {
    for (let h = 0; h < hosts.length; h++) {
      const host = hosts[h]!;
      // Members on ineligible hosts are down or leaving, so they neither block nor attract.
      if (!host.eligible) continue;
      for (const vm of host.vms) {
        const gs = outsiders.get(vm);
        if (gs) for (const g of new Set(gs)) st.groupHosts[g]!.push(h);
      }
    }
  }
  return rulesOf;
}

/** Bucket order: more free memory, then more free CPUs, then lower index (name). */
function before(memA: number, cpusA: number, a: number, memB: number, cpusB: number, b: number): boolean {
  if (memA !== memB) return memA > memB;
  return cpusA !== cpusB ? cpusA > cpusB : a < b;
}

/** Host a, with the given free capacity, ranks before host b as b stands now. */
function ranksBefore(st: State, a: number, memA: number, cpusA: number, b: number): boolean {
  return before(memA, cpusA, a, st.freeMemoryMiB[b]!, st.freeCpus[b]!, b);
}

function buildBuckets(st: State, byDatastore: Map<string, number[]>) {
  const datastores = new Map<string, Datastore>();
  const bucketsOf: Bucket[][] = st.hosts.map(() => []);
  for (const [ds, list] of byDatastore) {
    const buckets: Bucket[] = [];
    // Failover hosts first: they win whenever one fits.
    for (const failover of [true, false]) {
      const hs = list.filter((h) => (st.isFailover[h] === 1) === failover);
      if (hs.length === 0) continue;
      hs.sort((a, b) =>
        a === b ? 0 : ranksBefore(st, a, st.freeMemoryMiB[a]!, st.freeCpus[a]!, b) ? -1 : 1,
      );
      const b: Bucket = { failover, order: Int32Array.from(hs) };
      buckets.push(b);
      for (const h of hs) bucketsOf[h]!.push(b);
    }
    const sees = new Uint8Array(st.hosts.length);
    for (const h of list) sees[h] = 1;
    datastores.set(ds, { hosts: list, sees, buckets });
  }
  return { datastores, bucketsOf };
}

/** Moves host h down its bucket after its free capacity shrank from (oldMem, oldCpus). */
function sink(st: State, b: Bucket, h: number, oldMem: number, oldCpus: number): void {
  const { order } = b;
  const { freeMemoryMiB, freeCpus } = st;
  // Where h stands, found by its old key; then where its new key belongs among the rest.
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const x = order[mid]!;
    if (x === h) break;
    if (before(freeMemoryMiB[x]!, freeCpus[x]!, x, oldMem, oldCpus, h)) lo = mid + 1;
    else hi = mid;
  }
  const from = (lo + hi) >> 1;
  const mem = freeMemoryMiB[h]!;
  const cpus = freeCpus[h]!;
  lo = from + 1;
  hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const x = order[mid]!;
    if (before(freeMemoryMiB[x]!, freeCpus[x]!, x, mem, cpus, h)) lo = mid + 1;
    else hi = mid;
  }
  if (lo - 1 > from) order.copyWithin(from, from + 1, lo);
  order[lo - 1] = h;
}

/** Marks the VM's rule hosts and counts its anti-affinity mates per fault domain. */
function markVm(st: State, r: VmRules, stamp: number): boolean {
  const { anti, domainOf, domainMark, domainCount, groupHosts } = st;
  let marked = 0;
  for (let k = 0; k < r.antiGroups.length; k++) {
    const hs = groupHosts[r.antiGroups[k]!]!;
    for (let j = 0; j < hs.length; j++) {
      const h = hs[j]!;
      anti[h] = stamp;
      const d = domainOf[h]!;
      if (domainMark[d] !== stamp) {
        domainMark[d] = stamp;
        domainCount[d] = 0;
        marked++;
      }
      domainCount[d]!++;
    }
  }
  // Some domain holds no mate unless all are marked; then the least-marked one is the bound.
  st.floor = 0;
  if (marked > 0 && marked >= st.domainTotal) {
    st.floor = Number.POSITIVE_INFINITY;
    for (const g of r.antiGroups)
      for (const h of groupHosts[g]!) st.floor = Math.min(st.floor, domainCount[domainOf[h]!]!);
  }
  let mate = false;
  for (const g of r.affinityGroups) {
    for (const h of st.groupHosts[g]!) {
      st.affinity[h] = stamp;
      mate = true;
    }
  }
  if (r.allowed) for (const h of r.allowed) st.allow[h] = stamp;
  for (const h of r.denied) st.deny[h] = stamp;
  const lists = r.preferred.length > 0 ? [...r.preferred, ...r.avoided] : r.avoided;
  for (let k = 0; k < lists.length; k++) {
    const by = k < r.preferred.length ? -1 : 1;
    for (const h of lists[k]!) {
      if (st.penaltyMark[h] !== stamp) {
        st.penaltyMark[h] = stamp;
        st.penalty[h] = 0;
      }
      st.penalty[h]! += by;
    }
  }
  return mate;
}

/**
 * Common case (no soft rules, no strict host list, no affinity mate placed). Walking a bucket in
 * order, the first fitting host with the fewest anti-affinity mates in its fault domain wins, so
 * the walk stops at the first fit that reaches the lower bound, usually within a few hosts.
 */
function pickFromBuckets(st: State, buckets: Bucket[], vm: PlacementVm, stamp: number): number {
  const { freeCpus, freeMemoryMiB, anti, deny, domainOf, domainMark, domainCount, floor } = st;
  const mem = vm.memoryMiB;
  const cpus = vm.cpus;
  let best = -1;
  let bestDom = 0;
  for (let k = 0; k < buckets.length && best < 0; k++) {
    const order = buckets[k]!.order;
    for (let i = 0; i < order.length; i++) {
      const h = order[i]!;
      if (freeMemoryMiB[h]! < mem) break;
      if (freeCpus[h]! < cpus || anti[h] === stamp || deny[h] === stamp) continue;
      const d = domainOf[h]!;
      const dom = domainMark[d] === stamp ? domainCount[d]! : 0;
      if (best < 0 || dom < bestDom) {
        best = h;
        bestDom = dom;
      }
      if (dom <= floor) break;
    }
  }
  return best;
}

/**
 * General case: one pass over the hosts that see the VM's datastore (or over its strict host list
 * when shorter), comparing every key.
 */
function pickByScan(st: State, ds: Datastore, vm: PlacementVm, r: VmRules, stamp: number): number {
  const { freeCpus, freeMemoryMiB, domainOf, isFailover, anti, affinity, allow, deny } = st;
  const candidates = r.allowed !== null && r.allowed.length < ds.hosts.length ? r.allowed : ds.hosts;
  const sees = ds.sees;
  const { penaltyMark, penalty, domainMark, domainCount } = st;
  const hasAllow = r.allowed !== null;
  const basePenalty = r.preferred.length;
  let best = -1;
  let bestPen = 0;
  let bestAff = 0;
  let bestFo = 0;
  let bestDom = 0;
  for (let i = 0; i < candidates.length; i++) {
    const h = candidates[i]!;
    const fm = freeMemoryMiB[h]!;
    const fc = freeCpus[h]!;
    if (fm < vm.memoryMiB || fc < vm.cpus || anti[h] === stamp || deny[h] === stamp) continue;
    if ((hasAllow && allow[h] !== stamp) || sees[h] !== 1) continue;
    // Lower is better: soft rule misses, no affinity mate here, not a failover host, anti-affinity
    // mates in the fault domain; then the bucket order (most free memory, CPUs, name).
    const pen = penaltyMark[h] === stamp ? basePenalty + penalty[h]! : basePenalty;
    const aff = affinity[h] === stamp ? 0 : 1;
    const fo = isFailover[h] === 1 ? 0 : 1;
    const d = domainOf[h]!;
    const dom = domainMark[d] === stamp ? domainCount[d]! : 0;
    if (best >= 0) {
      const cmp = pen - bestPen || aff - bestAff || fo - bestFo || dom - bestDom;
      if (cmp > 0 || (cmp === 0 && !ranksBefore(st, h, fm, fc, best))) continue;
    }
    best = h;
    bestPen = pen;
    bestAff = aff;
    bestFo = fo;
    bestDom = dom;
  }
  return best;
}

const NO_HOST = "no host is eligible for HA restarts (all are down, disconnected or in maintenance)";
const NAMES_SHOWN = 5;

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, NAMES_SHOWN).join(", ");
  return names.length > NAMES_SHOWN ? `${shown} and ${names.length - NAMES_SHOWN} more` : shown;
}

/** Names the first filter that left no host, replaying the filters in a fixed order. */
function explain(st: State, candidates: number[], vm: PlacementVm, r: VmRules, s: number): string {
  const tagged = st.haTag === "" ? "" : ` carrying ha.tag ${st.haTag}`;
  const where = `eligible host${tagged} that sees datastore ${vm.datastore}`;
  if (candidates.length === 0) return `no ${where}`;
  let allowed = 0;
  let notDenied = 0;
  let notAnti = 0;
  let most = -1;
  for (const h of candidates) {
    if (r.allowed !== null && st.allow[h] !== s) continue;
    allowed++;
    if (st.deny[h] === s) continue;
    notDenied++;
    if (st.anti[h] === s) continue;
    notAnti++;
    if (most < 0 || st.freeMemoryMiB[h]! > st.freeMemoryMiB[most]!) most = h;
  }
  if (allowed === 0) {
    // Named as the rules list them, so a host missing from the cluster shows up too.
    let hostNames: string[] | null = null;
    for (const rule of st.rules) {
      if (rule.type !== "vmHostAffinity" || !rule.strict || !rule.vms.includes(vm.name)) continue;
      hostNames = hostNames === null ? [...rule.hosts] : hostNames.filter((x) => rule.hosts.includes(x));
    }
    hostNames = [...new Set(hostNames)].sort();
    const only = hostNames.length === 0 ? "no existing host" : `only ${listNames(hostNames)}`;
    return `strict vmHostAffinity rule allows ${only}, and none of them is an ${where}`;
  }
  if (notDenied === 0) return `strict vmHostAntiAffinity rule excludes every ${where}`;
  if (notAnti === 0) {
    const mates = [...new Set(r.antiGroups.flatMap((g) => st.groupMembers[g]!))]
      .filter((m) => m !== vm.name)
      .sort();
    return `vmAntiAffinity rule with ${listNames(mates)} leaves no host: every remaining candidate already runs a member of the group`;
  }
  const name = st.hosts[most]!.name;
  return `not enough free capacity: it needs ${vm.cpus} CPUs/${vm.memoryMiB} MiB and the candidate host with most free memory, ${name}, has ${st.freeCpus[most]} CPUs/${st.freeMemoryMiB[most]} MiB free`;
}

function disabledReason(vm: PlacementVm): string {
  return `restart priority of ${vm.name} is disabled, so HA never restarts it`;
}
