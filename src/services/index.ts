import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';

/** The domain services the routes call. Services know nothing of HTTP. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Services {}

export interface ServiceDeps { readonly config: Config; readonly db: Database }

export function createServices(_deps: ServiceDeps): Services {
  return {};
}
