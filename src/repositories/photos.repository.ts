import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext, Tx } from '../db/database.ts';
import { iso } from './sql-fragments.ts';

/** Photo metadata (migration 0015); the bytes are in a PhotoStorage, keyed by owner and id. */

const COLUMNS = `p.id, p.owner_id, p.content_type, p.bytes, p.width, p.height, p.thumb_bytes, ${iso('p.created_at')} AS created_at`;

export const photoQueries = catalog({
  insert: defineQuery({
    name: 'photo.insert',
    description: 'POST /api/photos: records a processed photo whose files are already stored.',
    target: 'primary',
    sample: { sql: `SELECT gen_random_uuid() AS id, id AS owner_id, 'image/jpeg' AS content_type, 1000 AS bytes, 640 AS width, 480 AS height, 100 AS thumb_bytes FROM users ORDER BY id LIMIT 1` },
    sql: `
INSERT INTO photos AS p (id, owner_id, content_type, bytes, width, height, thumb_bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING ${COLUMNS}`,
  }),
  get: defineQuery({
    name: 'photo.get',
    description: 'GET /api/photos/:id: one photo\'s metadata (its owner decides who may see it).',
    target: 'replica',
    sample: { sql: `SELECT coalesce((SELECT id FROM photos ORDER BY id LIMIT 1), gen_random_uuid()) AS id` },
    sql: `
SELECT ${COLUMNS} FROM photos p WHERE p.id = $1`,
  }),
  gallery: defineQuery({
    name: 'photo.gallery',
    description: "GET /api/profiles/:id/photos: a user's photos, newest first, keyset (created_at DESC, id DESC) over photos_owner_created_idx.",
    target: 'replica',
    sample: {
      sql: `SELECT coalesce((SELECT owner_id FROM photos GROUP BY owner_id ORDER BY count(*) DESC LIMIT 1), (SELECT id FROM users ORDER BY id LIMIT 1)) AS owner_id,
                   'infinity'::timestamptz AS before_ts, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS before_id, 21 AS lim`,
    },
    sql: `
SELECT ${COLUMNS} FROM photos p
WHERE p.owner_id = $1 AND (p.created_at, p.id) < ($2::timestamptz, $3::uuid)
ORDER BY p.created_at DESC, p.id DESC
LIMIT $4`,
  }),
  remove: defineQuery({
    name: 'photo.delete',
    description: 'DELETE /api/photos/:id: removes the owner\'s photo row (the files go after commit).',
    target: 'primary',
    sample: { sql: `SELECT coalesce((SELECT id FROM photos ORDER BY id LIMIT 1), gen_random_uuid()) AS id, (SELECT id FROM users ORDER BY id LIMIT 1) AS owner_id` },
    sql: `
DELETE FROM photos p WHERE p.id = $1 AND p.owner_id = $2
RETURNING ${COLUMNS}`,
  }),
  existingIds: defineQuery({
    name: 'photo.existing_ids',
    description: 'The orphan-file sweep (src/jobs/orphan-files.job.ts): which of up to 500 ids found in the file store have a row (primary-key probes, on the primary).',
    target: 'primary',
    sample: { sql: `SELECT coalesce((SELECT array_agg(id) FROM (SELECT id FROM photos ORDER BY id LIMIT 500) s), ARRAY[gen_random_uuid()]) AS ids` },
    sql: `SELECT p.id FROM photos p WHERE p.id = ANY($1::uuid[])`,
  }),
});

export interface PhotoRow {
  readonly id: string;
  readonly owner_id: string;
  readonly content_type: 'image/jpeg' | 'image/png' | 'image/webp';
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly thumb_bytes: number;
  readonly created_at: string;
}

export class PhotoRepository {
  constructor(private readonly db: Database) {}

  /** `q`: the transaction of a keyed upload (its Idempotency-Key record commits with the row). */
  async insert(p: Omit<PhotoRow, 'created_at'>, q: Tx = this.db): Promise<PhotoRow> {
    const rows = await q.query<PhotoRow>(photoQueries.insert, [p.id, p.owner_id, p.content_type, p.bytes, p.width, p.height, p.thumb_bytes]);
    const row = rows[0];
    if (!row) throw new Error('photo.insert returned no row');
    return row;
  }

  async get(id: string, ctx: QueryContext): Promise<PhotoRow | undefined> {
    return (await this.db.query<PhotoRow>(photoQueries.get, [id], ctx))[0];
  }

  async gallery(ownerId: string, before: { ts: string; id: string }, limit: number, ctx: QueryContext): Promise<PhotoRow[]> {
    return this.db.query<PhotoRow>(photoQueries.gallery, [ownerId, before.ts, before.id, limit], ctx);
  }

  async remove(id: string, ownerId: string): Promise<PhotoRow | undefined> {
    return (await this.db.query<PhotoRow>(photoQueries.remove, [id, ownerId]))[0];
  }

  /** Which of `ids` have a row. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return new Set((await this.db.query<{ id: string }>(photoQueries.existingIds, [ids])).map((r) => r.id));
  }
}
