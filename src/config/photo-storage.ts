import path from 'node:path';

/**
 * Where photo and chat-image bytes live (BGC_PHOTO_STORAGE_URL):
 *  - unset: the local filesystem under the data directory (BGC_DATA_DIR), one instance only;
 *  - `file:///srv/bgc-media`: the local filesystem under that directory;
 *  - `s3://[ACCESS_KEY:SECRET@]bucket[/prefix]?endpoint=http://host:port&region=eu-west-1&path_style=true`:
 *    an S3-compatible bucket shared by every instance of a fleet. `endpoint` is for a server
 *    other than AWS (MinIO, Garage, Ceph RGW…), `region` defaults to us-east-1, `path_style`
 *    to true with an endpoint (what self-hosted servers need) and false without. Without
 *    credentials in the URL the AWS SDK's default chain is used (AWS_* variables, the
 *    instance's role). Percent-encode reserved characters in the key and secret.
 */
export type PhotoStorageConfig =
  | { readonly kind: 'local'; readonly dir: string }
  | {
    readonly kind: 's3';
    readonly bucket: string;
    /** '' or ending in '/'. */
    readonly prefix: string;
    readonly region: string;
    readonly endpoint: string | undefined;
    readonly forcePathStyle: boolean;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
  };

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z0-9-]{1,40}$/;
const S3_PARAMS = new Set(['endpoint', 'region', 'path_style']);

/** Parses BGC_PHOTO_STORAGE_URL; problems name the variable and never repeat a secret. */
export function photoStorageFrom(raw: string | undefined, dataDir: string, problems: string[]): PhotoStorageConfig {
  const name = 'BGC_PHOTO_STORAGE_URL';
  if (raw === undefined || raw.trim() === '') return { kind: 'local', dir: dataDir };
  if (!URL.canParse(raw)) {
    problems.push(`${name}: not a URL (expected file:///dir or s3://bucket?endpoint=…)`);
    return { kind: 'local', dir: dataDir };
  }
  const url = new URL(raw);
  if (url.protocol === 'file:') {
    if (url.host !== '' || url.pathname === '/') problems.push(`${name}: a file URL names a local directory, such as file:///srv/bgc-media`);
    return { kind: 'local', dir: path.resolve(decodeURIComponent(url.pathname)) };
  }
  if (url.protocol !== 's3:') {
    problems.push(`${name}: the scheme must be file: or s3:`);
    return { kind: 'local', dir: dataDir };
  }
  const bucket = url.hostname;
  if (!BUCKET.test(bucket)) problems.push(`${name}: "${bucket}" is not a bucket name (3-63 lower-case letters, digits, dots and hyphens)`);
  for (const key of url.searchParams.keys()) {
    if (!S3_PARAMS.has(key)) problems.push(`${name}: unknown parameter "${key}" (known: ${[...S3_PARAMS].join(', ')})`);
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined && (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol))) {
    problems.push(`${name}: endpoint must be an http(s) URL such as http://127.0.0.1:9000`);
  }
  const region = url.searchParams.get('region') ?? 'us-east-1';
  if (!REGION.test(region)) problems.push(`${name}: "${region}" is not a region name`);
  const pathStyle = url.searchParams.get('path_style');
  if (pathStyle !== null && pathStyle !== 'true' && pathStyle !== 'false') problems.push(`${name}: path_style must be true or false`);
  if ((url.username === '') !== (url.password === '')) problems.push(`${name}: give both the access key and the secret (s3://KEY:SECRET@bucket), or neither`);
  const trimmed = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  return {
    kind: 's3',
    bucket,
    prefix: trimmed === '' ? '' : `${trimmed}/`,
    region,
    endpoint,
    forcePathStyle: pathStyle === null ? endpoint !== undefined : pathStyle === 'true',
    credentials: url.username !== '' && url.password !== ''
      ? { accessKeyId: decodeURIComponent(url.username), secretAccessKey: decodeURIComponent(url.password) }
      : undefined,
  };
}
