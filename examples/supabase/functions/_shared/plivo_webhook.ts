// What the Edge Functions that receive Plivo's webhooks (plivo-status, plivo-inbound) share:
// decoding Plivo's request into the arguments of the database function that checks its
// signature, the service-role client that calls it, and the answers to its errors.
import { createClient, type PostgrestError } from '@supabase/supabase-js';
import type { Database } from './database.types.ts';

export function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

// Plivo is not a signed-in user: the service role calls the database function, and the
// signature check inside it is what authenticates the request.
export function serviceRoleClient() {
  return createClient<Database>(
    requireEnv('SUPABASE_URL'),
    requireEnv('SUPABASE_SERVICE_ROLE_KEY'),
    { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } },
  );
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

// The arguments of plivo.handle_status_callback() and plivo.handle_inbound_message().
export type WebhookRequest = {
  url: string;
  params: Record<string, string | string[]>;
  headers: Record<string, string>;
  method: 'POST' | 'GET';
};

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

// The configured public URL without its own query: Plivo's GET adds the fields to it.
function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

// Plivo's request (POST form, or GET query) as the database function takes it, or the
// 405/415 answer when it is neither. publicUrl is the URL Plivo was told to call: the
// signature covers it, not req.url, the function's internal address behind Supabase's proxy.
export async function readWebhookRequest(
  req: Request,
  publicUrl: string,
): Promise<WebhookRequest | Response> {
  let url: string;
  let fields: URLSearchParams;
  let method: WebhookRequest['method'];
  if (req.method === 'POST') {
    const contentType = req.headers.get('Content-Type') ?? '';
    if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return json(415, { error: 'expected application/x-www-form-urlencoded' });
    }
    url = publicUrl;
    fields = new URLSearchParams(await req.text());
    method = 'POST';
  } else if (req.method === 'GET') {
    const query = rawQuery(req.url);
    url = withoutQuery(publicUrl) + query;
    fields = new URLSearchParams(query);
    method = 'GET';
  } else {
    return json(405, { error: 'use POST or GET' });
  }

  // Every header goes to the database, which picks the signature and nonce headers itself.
  const headers = Object.fromEntries(req.headers.entries());
  return { url, params: toParams(fields), headers, method };
}

// The answer to an error of the database function: 403 for a missing or invalid signature
// (SQLSTATE 28000, logged without any header value), 500 for anything else, our failure,
// which makes Plivo retry later (+60 s, +120 s, +240 s). `what` names the request in the
// log ("a delivery report").
export function webhookError(
  fn: string,
  rpc: string,
  what: string,
  error: PostgrestError,
): Response {
  if (error.code === '28000') {
    console.warn(`${fn}: rejected ${what} with a bad signature`);
    return json(403, { error: 'invalid signature' });
  }
  console.error(`${fn}: ${rpc} failed`, { code: error.code, message: error.message });
  return json(500, { error: 'not processed' });
}
