// What users are told for each failure code, in both languages, from GET /api/v1/failure-codes (the notifier's
// table, the same words its e-mails use). Read once per page load; until it arrives (or if it cannot be read) the
// status shows the server's own message only.
import { useEffect, useState } from "preact/hooks";
import type { Locale } from "./i18n";

export interface FailureCodeInfo {
  code: string;
  retryable: boolean;
  message_en: string;
  message_pt_br: string;
}

export type FailureTable = Record<string, FailureCodeInfo>;

let table: Promise<FailureTable> | null = null;

/** The table, fetched at most once (a failed fetch is tried again on the next call). */
export function failureTable(fetcher: typeof fetch = (input, init) => globalThis.fetch(input, init)): Promise<FailureTable> {
  table ??= fetcher("/api/v1/failure-codes")
    .then(async (response) => {
      if (!response.ok) throw new Error(`failure codes: ${response.status}`);
      const rows = (await response.json()) as FailureCodeInfo[];
      return Object.fromEntries(rows.map((row) => [row.code, row]));
    })
    .catch((error: unknown) => {
      table = null;
      throw error;
    });
  return table;
}

/** The user message for `code` in `locale`, when the table has it. */
export function failureMessage(rows: FailureTable | null, code: string, locale: Locale): string | null {
  const row = rows?.[code];
  if (!row) return null;
  return locale === "pt-BR" ? row.message_pt_br : row.message_en;
}

export function useFailureTable(wanted: boolean): FailureTable | null {
  const [rows, setRows] = useState<FailureTable | null>(null);
  useEffect(() => {
    if (!wanted || rows) return;
    failureTable().then(setRows, () => undefined);
  }, [wanted]);
  return rows;
}
