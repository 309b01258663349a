import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';

/** `npm start` loads the small demo dataset into an empty database. */
export async function seedIfEmpty(_config: Config, _db: Database, _progress: (m: string) => void): Promise<void> {
  // replaced when the seed generator lands
}
