import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { sendError } from '../../http/error-handler.ts';
import { REPORT_FORMATS, type ReportFormat } from '../report/generate.ts';
import { reportStoreQueries } from '../report/store.repository.ts';
import { dashboardData } from './data.ts';
import { dashboardPage } from './page.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const uplotDir = path.join(path.dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/** Static assets, read once: uPlot from node_modules (no CDN) and our client script and styles. */
const ASSETS: Record<string, { file: string; type: string }> = {
  'uPlot.iife.min.js': { file: path.join(uplotDir, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { file: path.join(uplotDir, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
  'dashboard.js': { file: path.join(here, 'client', 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'chart-window.js': { file: path.join(here, 'client', 'chart-window.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { file: path.join(here, 'client', 'dashboard.css'), type: 'text/css; charset=utf-8' },
};

const CONTENT_TYPE: Record<ReportFormat, string> = {
  html: 'text/html; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

// Everything from this origin; no inline script. Stored reports get none at all: they are
// self-contained documents with inline CSS and SVG only.
const DASHBOARD_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'";

/**
 * Registers /dashboard, its assets, /admin/api/dashboard and the stored-report viewer on the
 * admin app (buildAdminApp's `extra`). The admin app's token check covers all of them.
 */
export function dashboardRoutes(deps: AppDeps): (app: FastifyInstance) => Promise<void> {
  const assets = new Map(Object.entries(ASSETS).map(([name, a]) => [name, { body: fs.readFileSync(a.file), type: a.type }]));
  const page = dashboardPage();
  return async (app) => {
    app.get('/dashboard', async (_req, reply) => {
      reply.header('content-security-policy', DASHBOARD_CSP).header('cache-control', 'no-store').type('text/html; charset=utf-8');
      return page;
    });
    app.get<{ Params: { name: string } }>('/dashboard/assets/:name', async (req, reply) => {
      const asset = assets.get(req.params.name);
      if (!asset) return sendError(reply, 'NOT_FOUND', 'no such asset');
      reply.header('cache-control', 'public, max-age=300').type(asset.type);
      return asset.body;
    });
    app.get('/admin/api/dashboard', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      return dashboardData(deps);
    });
    app.get('/admin/api/reports', async () => deps.db.query(reportStoreQueries.list, []));
    app.get<{ Params: { month: string; format: string } }>('/admin/reports/:month/:format', async (req, reply) => {
      const { month, format } = req.params;
      if (!/^\d{4}-\d{2}$/.test(month) || !(REPORT_FORMATS as readonly string[]).includes(format)) return sendError(reply, 'NOT_FOUND', 'no such report');
      const [row] = await deps.db.query<{ content: string }>(reportStoreQueries.get, [month, format]);
      if (!row) return sendError(reply, 'NOT_FOUND', `no ${format} report stored for ${month}`);
      reply.header('content-security-policy', REPORT_CSP).header('cache-control', 'no-store').type(CONTENT_TYPE[format as ReportFormat]);
      return row.content;
    });
  };
}
