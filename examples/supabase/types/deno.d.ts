// The few Deno globals the Edge Functions use, so that `tsc` can check them without
// Deno's own type library. Deno itself never reads this file.
declare namespace Deno {
  export function serve(
    handler: (request: Request) => Response | Promise<Response>,
  ): unknown;

  export namespace env {
    export function get(key: string): string | undefined;
  }
}
