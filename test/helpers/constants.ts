export const PRIMARY_PORT = 54320;
export const REPLICA_PORTS = [54321, 54322] as const;
export const REDIS_PORT = 63790;
