// plivo-status: receives Plivo's delivery reports and hands them to
// plivo.handle_status_callback(), which checks Plivo's signature in the database and
// updates plivo.message_logs. Deploy with --no-verify-jwt: Plivo sends no JWT.
// Env: PLIVO_CALLBACK_URL (set it yourself), SUPABASE_URL and
// SUPABASE_SERVICE_ROLE_KEY (set by Supabase itself).
import { createClient } from '@supabase/supabase-js';
import type { Database } from '../_shared/database.types.ts';

function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

// The public URL Plivo was told to call (plivo.callback_url). The signature covers this
// URL, not req.url, which is the function's internal address behind Supabase's proxy.
const callbackUrl = requireEnv('PLIVO_CALLBACK_URL');

// Plivo is not a signed-in user: the service role calls the function, and the
// signature check inside it is what authenticates the request.
const supabase = createClient<Database>(
  requireEnv('SUPABASE_URL'),
  requireEnv('SUPABASE_SERVICE_ROLE_KEY'),
  { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } },
);

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

// Decoded fields as a JSON object; a key that appears more than once becomes an array.
function toParams(fields: URLSearchParams): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {};
  for (const key of new Set(fields.keys())) {
    const values = fields.getAll(key);
    params[key] = values.length === 1 ? values[0]! : values;
  }
  return params;
}

// The query string exactly as received ("?a=b&c=d", or "" when there is none).
function rawQuery(url: string): string {
  const start = url.indexOf('?');
  if (start === -1) return '';
  const end = url.indexOf('#', start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

// The configured callback URL without its own query: Plivo's GET adds the fields to it.
function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

Deno.serve(async (req) => {
  let url: string;
  let fields: URLSearchParams;
  if (req.method === 'POST') {
    const contentType = req.headers.get('Content-Type') ?? '';
    if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return json(415, { error: 'expected application/x-www-form-urlencoded' });
    }
    url = callbackUrl;
    fields = new URLSearchParams(await req.text());
  } else if (req.method === 'GET') {
    const query = rawQuery(req.url);
    url = withoutQuery(callbackUrl) + query;
    fields = new URLSearchParams(query);
  } else {
    return json(405, { error: 'use POST or GET' });
  }

  // Every header goes to the database, which picks the signature and nonce headers itself.
  const headers = Object.fromEntries(req.headers.entries());

  const { data, error } = await supabase.schema('plivo').rpc('handle_status_callback', {
    url,
    params: toParams(fields),
    headers,
    method: req.method,
  });

  if (error) {
    // 28000: missing or invalid signature. Logged without any header value.
    if (error.code === '28000') {
      console.warn('plivo-status: rejected a delivery report with a bad signature');
      return json(403, { error: 'invalid signature' });
    }
    // Anything else is our failure: a 5xx makes Plivo retry later (+60 s, +120 s, +240 s).
    console.error('plivo-status: handle_status_callback failed', {
      code: error.code,
      message: error.message,
    });
    return json(500, { error: 'not processed' });
  }

  const outcome = (data ?? {}) as { result?: string; message_id?: string | null };
  return json(200, { result: outcome.result ?? null, message_id: outcome.message_id ?? null });
});
