// plivo-status: receives Plivo's delivery reports and hands them to
// plivo.handle_status_callback(), which checks Plivo's signature in the database and
// updates plivo.message_logs. Deploy with --no-verify-jwt: Plivo sends no JWT.
// Env: PLIVO_CALLBACK_URL (set it yourself), SUPABASE_URL and
// SUPABASE_SERVICE_ROLE_KEY (set by Supabase itself).
import {
  json,
  readWebhookRequest,
  requireEnv,
  serviceRoleClient,
  webhookError,
} from '../_shared/plivo_webhook.ts';

// The public URL Plivo was told to call (plivo.callback_url), which the signature covers.
const callbackUrl = requireEnv('PLIVO_CALLBACK_URL');

const supabase = serviceRoleClient();

Deno.serve(async (req) => {
  const request = await readWebhookRequest(req, callbackUrl);
  if (request instanceof Response) return request;

  const { data, error } = await supabase.schema('plivo').rpc('handle_status_callback', request);
  if (error) return webhookError('plivo-status', 'handle_status_callback', 'a delivery report', error);

  const outcome = (data ?? {}) as { result?: string; message_id?: string | null };
  return json(200, { result: outcome.result ?? null, message_id: outcome.message_id ?? null });
});
