// plivo-inbound: receives the messages people send to our Plivo numbers (the message_url
// of the Plivo Application the numbers are linked to) and hands them to
// plivo.handle_inbound_message(), which checks Plivo's signature in the database, stores
// each MessageUUID once in plivo.inbound_messages and acts on STOP, START and HELP.
// Deploy with --no-verify-jwt: Plivo sends no JWT.
// Env: PLIVO_INBOUND_URL (set it yourself), SUPABASE_URL and
// SUPABASE_SERVICE_ROLE_KEY (set by Supabase itself).
import {
  json,
  readWebhookRequest,
  requireEnv,
  serviceRoleClient,
  webhookError,
} from '../_shared/plivo_webhook.ts';

// What plivo.handle_inbound_message() returns.
type InboundOutcome = {
  result: 'stored' | 'duplicate';
  id: number;
  message_uuid: string;
  consent: 'opt_out' | 'opt_in' | 'help' | null;
  reply_message_id: string | null;
};

// The public URL Plivo was told to call (the Application's message_url), which the
// signature covers.
const inboundUrl = requireEnv('PLIVO_INBOUND_URL');

const supabase = serviceRoleClient();

// An empty answer on purpose: Plivo would send any <Message> in it as a reply, outside
// pg_plivo. Replies (the opt-out confirmation, the HELP answer) are enqueued by the
// database in plivo.message_logs instead, so they are rate-limited, retried and logged
// like every other message.
const emptyResponse = '<Response/>';

Deno.serve(async (req) => {
  const request = await readWebhookRequest(req, inboundUrl);
  if (request instanceof Response) return request;

  const { data, error } = await supabase.schema('plivo').rpc('handle_inbound_message', request);
  if (error) {
    // 22023: a signed request without From, To or MessageUUID; the details name fields,
    // not values. Not our failure, so 400 rather than 500 (a retry cannot mend it).
    if (error.code === '22023') {
      console.warn('plivo-inbound: rejected an inbound message', { details: error.details });
      return json(400, { error: error.message, details: error.details });
    }
    return webhookError('plivo-inbound', 'handle_inbound_message', 'an inbound message', error);
  }

  // Retries are safe: a MessageUUID stored before comes back as "duplicate".
  // No numbers or text in the log: they are personal data.
  const outcome = (data ?? {}) as Partial<InboundOutcome>;
  console.log('plivo-inbound:', {
    result: outcome.result,
    id: outcome.id,
    message_uuid: outcome.message_uuid,
    consent: outcome.consent,
  });
  return new Response(emptyResponse, {
    status: 200,
    headers: { 'Content-Type': 'application/xml' },
  });
});
