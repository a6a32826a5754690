// The part of pg_plivo's `plivo` schema these functions call, in the shape that
// `supabase gen types typescript --schema plivo` generates. Regenerate it from your
// own database to get every table, view and function.
export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[];

export type Database = {
  plivo: {
    Tables: { [_ in never]: never };
    Views: { [_ in never]: never };
    Functions: {
      send_mms: {
        Args: {
          destination_number: string;
          message_text: string;
          media_urls: string[];
          sender_number?: string;
          callback_url?: string;
          idempotency_key?: string;
        };
        // The new row's id in plivo.message_logs (a uuid).
        Returns: string;
      };
      handle_status_callback: {
        Args: { url: string; params: Json; headers: Json; method: string };
        // {"result": "applied"|"duplicate"|"stale"|"unknown_message", "message_id", "status"}
        Returns: Json;
      };
    };
    Enums: { [_ in never]: never };
    CompositeTypes: { [_ in never]: never };
  };
};
