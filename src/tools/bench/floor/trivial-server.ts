/**
 * The floor route (DESIGN §5): the same HTTP stack as the app (Fastify, no request
 * logging) answering every GET with a constant ~450-byte JSON document. Runs in its own
 * process, like the API server, and reports its port over IPC.
 */
import Fastify from 'fastify';

const PAYLOAD = {
  id: '0190f5a3-7c1e-7b2a-9d4e-3f6a8b1c2d3e',
  username: 'floor_route',
  display_name: 'Floor Route',
  bio: 'A constant document the size of a cached profile, served without touching any store.',
  city: 'Springfield',
  state: 'IL',
  interests: ['music', 'hiking', 'books', 'cooking'],
  roles: ['member'],
  metadata: { verified: true, plan: 'free', theme: 'dark' },
  rating: { average: 7.5, count: 12 },
  relationship: null,
  last_active_at: '2024-06-01T12:00:00.000Z',
};

const app = Fastify({ logger: false });
app.get('/', async () => PAYLOAD);
app.get('/*', async () => PAYLOAD);

await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
process.send?.({ type: 'listening', port: addr && typeof addr === 'object' ? addr.port : 0, bytes: JSON.stringify(PAYLOAD).length });
process.on('disconnect', () => { void app.close().then(() => process.exit(0)); });
