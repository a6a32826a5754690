// send-mms: POST {destination_number, message_text, media_urls, idempotency_key?}
// enqueues one MMS with plivo.send_mms() AS THE CALLER and answers 202 {id}.
// Env (set by Supabase itself): SUPABASE_URL, SUPABASE_ANON_KEY.
import { createClient } from '@supabase/supabase-js';
import type { Database } from '../_shared/database.types.ts';

type SendMmsArgs = Database['plivo']['Functions']['send_mms']['Args'];

function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

const supabaseUrl = requireEnv('SUPABASE_URL');
const supabaseAnonKey = requireEnv('SUPABASE_ANON_KEY');

// Lets a browser call the function through supabase.functions.invoke(); narrow the origin in production.
const corsHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type',
  'Access-Control-Allow-Methods': 'POST, OPTIONS',
};

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...corsHeaders, 'Content-Type': 'application/json' },
  });
}

const allowedKeys = ['destination_number', 'message_text', 'media_urls', 'idempotency_key'];

// The body's shape only; pg_plivo itself validates numbers, text and URLs with precise errors.
function parseBody(body: unknown): SendMmsArgs | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'the body must be a JSON object';
  }
  const b = body as Record<string, unknown>;
  const unknownKeys = Object.keys(b).filter((key) => !allowedKeys.includes(key));
  if (unknownKeys.length > 0) {
    return `unknown field(s): ${unknownKeys.join(', ')}; allowed: ${allowedKeys.join(', ')}`;
  }
  if (typeof b.destination_number !== 'string') return 'destination_number must be a string';
  if (typeof b.message_text !== 'string') return 'message_text must be a string';
  if (!Array.isArray(b.media_urls) || !b.media_urls.every((u) => typeof u === 'string')) {
    return 'media_urls must be an array of strings';
  }
  if (b.idempotency_key !== undefined && typeof b.idempotency_key !== 'string') {
    return 'idempotency_key must be a string when given';
  }
  const args: SendMmsArgs = {
    destination_number: b.destination_number,
    message_text: b.message_text,
    media_urls: b.media_urls as string[],
  };
  if (b.idempotency_key !== undefined) args.idempotency_key = b.idempotency_key;
  return args;
}

Deno.serve(async (req) => {
  if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: corsHeaders });
  if (req.method !== 'POST') return json(405, { error: 'use POST' });

  const authorization = req.headers.get('Authorization');
  if (!authorization) return json(401, { error: 'missing Authorization header' });

  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return json(400, { error: 'the body is not valid JSON' });
  }
  const args = parseBody(body);
  if (typeof args === 'string') return json(400, { error: args });

  // The caller's JWT goes to PostgREST, so RLS, created_by (the JWT `sub`) and the
  // per-user quota apply to them, not to a privileged key.
  const supabase = createClient<Database>(supabaseUrl, supabaseAnonKey, {
    global: { headers: { Authorization: authorization } },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });

  const { data: id, error } = await supabase.schema('plivo').rpc('send_mms', args);
  if (!error) return json(202, { id });

  // error.code is the SQLSTATE raised in the database (or PostgREST's own PGRSTxxx).
  switch (error.code) {
    case '22023': // invalid value
    case '22004': // missing value
    case '22001': // text too long
      return json(400, { error: error.message, details: error.details, hint: error.hint });
    case '42501': // no EXECUTE on plivo.send_mms (see the GRANT in the migration) or RLS
      return json(403, { error: error.message });
    case 'PT429': // the caller's sending quota is used up
      return json(429, { error: error.message, hint: error.hint });
    default:
      // Configuration problems (schema not exposed, function missing) land here: see the logs.
      console.error('plivo.send_mms failed', { code: error.code, message: error.message });
      return json(500, { error: 'could not enqueue the message' });
  }
});
