import type { CacheName } from '../metrics/cache.metrics.ts';

/**
 * Every Redis key the cache layer writes, in one place. All of them live under the
 * versioned namespace (BGC_CACHE_NAMESPACE, e.g. "bgc:v1"): bumping the version orphans
 * every old key at once, and a test's namespace keeps it apart from other tests.
 *
 *   <ns>:profile:<user id>          profile view (bentocache entry, JSON)
 *   <ns>:session:<token hash hex>   session lookup (bentocache entry, JSON)
 *   <ns>:relationship:<user id>[:<hex suffix>]  a node of that user's relationship set
 *                                   (relationship-sets.ts)
 *   <ns>:lease:<cache>:<key>        fleet-wide load lease (SET NX PX)
 *   <ns>:lsn:<user id>              read-your-writes LSN (LsnStore)
 *   <ns>:pv:<scope>                 last change position of a chat page scope
 *                                   (page-versions.ts: i:<user id> inbox, c:<conversation id> history)
 *   <ns>:listeners                  hash of live invalidation listeners (coverage check)
 *   <ns>:bus:<store>                pub/sub channel keeping L1s coherent
 *   <ns>:master                     term (run_id:master_replid) of the Redis master the
 *                                   namespace was last checked on (master-guard.ts)
 */
export class CacheKeys {
  constructor(readonly namespace: string) {}

  /** bentocache store prefix: its keys become `<ns>:<cache>:<id>`. */
  storePrefix(cache: CacheName): string { return `${this.namespace}:${cache}`; }
  item(cache: CacheName, id: string): string { return `${this.namespace}:${cache}:${id}`; }
  itemPattern(cache: CacheName): string { return `${this.namespace}:${cache}:*`; }
  lease(cache: CacheName, id: string): string { return `${this.namespace}:lease:${cache}:${id}`; }
  get leasePattern(): string { return `${this.namespace}:lease:*`; }
  lsn(userId: string): string { return `${this.namespace}:lsn:${userId}`; }
  pageVersion(scope: string): string { return `${this.namespace}:pv:${scope}`; }
  get listeners(): string { return `${this.namespace}:listeners`; }
  get masterMark(): string { return `${this.namespace}:master`; }
  busChannel(store: string): string { return `${this.namespace}:bus:${store}`; }
}
