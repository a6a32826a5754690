// The part of pg_plivo's `plivo` schema these functions call and their clients read, in
// the shape that `supabase gen types typescript --schema plivo` generates. Regenerate it
// from your own database to get every table, view and function.
export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[];

export type Database = {
  plivo: {
    Tables: {
      inbound_messages: {
        Row: {
          id: number;
          message_uuid: string;
          // The sender, E.164 with + (as message_logs.recipient spells it).
          from_number: string;
          // Our number it was sent to (as message_logs.sender spells it).
          to_number: string;
          message_type: string;
          // Text (SMS) or Body (MMS).
          message_text: string | null;
          media_urls: string[];
          units: number | null;
          total_rate: number | null;
          total_amount: number | null;
          // Plivo's MessageIntent: 'optout' | 'optin' | 'help', or null.
          intent: string | null;
          powerpack_uuid: string | null;
          // Plivo's fields as received.
          params: Json;
          received_at: string;
          // 'opt_out' | 'opt_in' | 'help' (handle_inbound_message's "consent"), or null.
          consent_action: string | null;
          // The reply enqueued in message_logs (opt-out confirmation, HELP answer), or null.
          reply_message_id: string | null;
        };
        Insert: {
          id?: never;
          message_uuid: string;
          from_number: string;
          to_number: string;
          message_type: string;
          message_text?: string | null;
          media_urls?: string[];
          units?: number | null;
          total_rate?: number | null;
          total_amount?: number | null;
          intent?: string | null;
          powerpack_uuid?: string | null;
          params: Json;
          received_at?: string;
          consent_action?: string | null;
          reply_message_id?: string | null;
        };
        Update: {
          id?: never;
          message_uuid?: string;
          from_number?: string;
          to_number?: string;
          message_type?: string;
          message_text?: string | null;
          media_urls?: string[];
          units?: number | null;
          total_rate?: number | null;
          total_amount?: number | null;
          intent?: string | null;
          powerpack_uuid?: string | null;
          params?: Json;
          received_at?: string;
          consent_action?: string | null;
          reply_message_id?: string | null;
        };
        Relationships: [];
      };
      message_logs: {
        Row: {
          id: string;
          plivo_message_uuid: string | null;
          // null for a message sent through a Powerpack until Plivo names the number.
          sender: string | null;
          recipient: string;
          message_text: string | null;
          media_urls: string[] | null;
          // 'queued' | 'sending' | 'retrying' | 'sent' | 'delivered' | 'undelivered' |
          // 'failed' | 'rejected' | 'cancelled' (a CHECK keeps it not null).
          status: string | null;
          plivo_status_info: Json | null;
          error_code: string | null;
          created_at: string | null;
          updated_at: string | null;
          // 'sms' | 'mms'
          message_type: string;
          callback_url: string | null;
          // 'GSM-7' | 'UCS-2'
          text_encoding: string | null;
          segments: number;
          idempotency_key: string | null;
          created_by: string | null;
          created_by_role: string;
          attempts: number;
          next_attempt_at: string;
          lease_expires_at: string | null;
          last_attempt_at: string | null;
          unsettled_since: string | null;
          last_error: string | null;
          last_http_status: number | null;
          // 'opt_out_confirmation' | 'help_reply' | 'transactional', or null.
          consent_override: string | null;
          send_at: string | null;
          // An interval, as PostgREST renders it ("01:00:00").
          valid_for: string | null;
          expires_at: string | null;
          // 'true' | 'false' | 'number_only' | 'content_only', or null.
          plivo_log: string | null;
          sms_fallback: boolean | null;
          fallback_of: string | null;
          fallback_message_id: string | null;
          units: number | null;
          // numeric: PostgREST sends it as a JSON number.
          total_rate: number | null;
          total_amount: number | null;
          powerpack_uuid: string | null;
        };
        Insert: {
          id?: string;
          plivo_message_uuid?: string | null;
          // The insert trigger fills it in (plivo.sender_number) unless a Powerpack is used.
          sender?: string | null;
          recipient: string;
          message_text?: string | null;
          media_urls?: string[] | null;
          status?: string | null;
          plivo_status_info?: Json | null;
          error_code?: string | null;
          created_at?: string | null;
          updated_at?: string | null;
          // NOT NULL, but the insert trigger fills it in ('mms' when media_urls is given).
          message_type?: string;
          callback_url?: string | null;
          text_encoding?: string | null;
          segments?: number;
          idempotency_key?: string | null;
          created_by?: string | null;
          created_by_role?: string;
          attempts?: number;
          next_attempt_at?: string;
          lease_expires_at?: string | null;
          last_attempt_at?: string | null;
          unsettled_since?: string | null;
          last_error?: string | null;
          last_http_status?: number | null;
          consent_override?: string | null;
          send_at?: string | null;
          valid_for?: string | null;
          expires_at?: string | null;
          plivo_log?: string | null;
          sms_fallback?: boolean | null;
          fallback_of?: string | null;
          fallback_message_id?: string | null;
          units?: number | null;
          total_rate?: number | null;
          total_amount?: number | null;
          powerpack_uuid?: string | null;
        };
        Update: {
          id?: string;
          plivo_message_uuid?: string | null;
          sender?: string;
          recipient?: string;
          message_text?: string | null;
          media_urls?: string[] | null;
          status?: string | null;
          plivo_status_info?: Json | null;
          error_code?: string | null;
          created_at?: string | null;
          updated_at?: string | null;
          message_type?: string;
          callback_url?: string | null;
          text_encoding?: string | null;
          segments?: number;
          idempotency_key?: string | null;
          created_by?: string | null;
          created_by_role?: string;
          attempts?: number;
          next_attempt_at?: string;
          lease_expires_at?: string | null;
          last_attempt_at?: string | null;
          unsettled_since?: string | null;
          last_error?: string | null;
          last_http_status?: number | null;
          consent_override?: string | null;
          send_at?: string | null;
          valid_for?: string | null;
          expires_at?: string | null;
          plivo_log?: string | null;
          sms_fallback?: boolean | null;
          fallback_of?: string | null;
          fallback_message_id?: string | null;
          units?: number | null;
          total_rate?: number | null;
          total_amount?: number | null;
          powerpack_uuid?: string | null;
        };
        Relationships: [];
      };
      opt_outs: {
        Row: {
          id: number;
          recipient: string;
          sender: string | null;
          // 'inbound_keyword' | 'plivo_intent' | 'plivo_error_200' | 'dba' | 'api'
          source: string;
          reason: string | null;
          inbound_message_id: number | null;
          message_id: string | null;
          opted_out_at: string;
          recorded_by: string;
          // A message_logs id, like message_id.
          confirmation_message_id: string | null;
        };
        Insert: {
          id?: never;
          recipient: string;
          sender?: string | null;
          source: string;
          reason?: string | null;
          inbound_message_id?: number | null;
          message_id?: string | null;
          opted_out_at?: string;
          recorded_by?: string;
          confirmation_message_id?: string | null;
        };
        Update: {
          id?: never;
          recipient?: string;
          sender?: string | null;
          source?: string;
          reason?: string | null;
          inbound_message_id?: number | null;
          message_id?: string | null;
          opted_out_at?: string;
          recorded_by?: string;
          confirmation_message_id?: string | null;
        };
        Relationships: [];
      };
    };
    Views: {
      // Both directions of every conversation (our_number, their_number); order by `at`.
      // As generated, every column of a view is nullable.
      conversations: {
        Row: {
          our_number: string | null;
          their_number: string | null;
          // 'outbound' (message_logs) | 'inbound' (inbound_messages)
          direction: string | null;
          at: string | null;
          message_text: string | null;
          media_urls: string[] | null;
          // message_logs.status, or 'received' for inbound messages.
          status: string | null;
          // Set for outbound rows.
          message_id: string | null;
          // Set for inbound rows.
          inbound_id: number | null;
        };
        Relationships: [];
      };
    };
    Functions: {
      send_mms: {
        Args: {
          destination_number: string;
          message_text: string;
          media_urls: string[];
          sender_number?: string;
          callback_url?: string;
          idempotency_key?: string;
          send_at?: string;
          valid_for?: string;
          plivo_log?: string;
          sms_fallback?: boolean;
          consent_override?: string;
          powerpack_uuid?: string;
        };
        // The new row's id in plivo.message_logs (a uuid).
        Returns: string;
      };
      send_sms: {
        Args: {
          destination_number: string;
          message_text: string;
          sender_number?: string;
          callback_url?: string;
          idempotency_key?: string;
          send_at?: string;
          valid_for?: string;
          plivo_log?: string;
          consent_override?: string;
          powerpack_uuid?: string;
        };
        Returns: string;
      };
      cancel_message: {
        Args: { id: string };
        // true; a message the worker already claimed raises 55000.
        Returns: boolean;
      };
      handle_status_callback: {
        Args: { url: string; params: Json; headers: Json; method: string };
        // {"result": "applied"|"duplicate"|"stale"|"unknown_message", "message_id", "status"}
        Returns: Json;
      };
      handle_inbound_message: {
        Args: { url: string; params: Json; headers: Json; method: string };
        // {"result": "stored"|"duplicate", "id" (inbound_messages.id), "message_uuid",
        //  "consent": "opt_out"|"opt_in"|"help"|null, "reply_message_id" (a uuid or null)}
        Returns: Json;
      };
      opt_out: {
        Args: { number: string; reason?: string; sender_number?: string };
        Returns: Json;
      };
      opt_in: {
        Args: { number: string; sender_number?: string };
        Returns: Json;
      };
    };
    Enums: { [_ in never]: never };
    CompositeTypes: { [_ in never]: never };
  };
};
