/**
 * A streaming scanner for PostgreSQL's CSV output (COPY … WITH (FORMAT csv, HEADER)).
 * It does not build rows: it counts records (a newline inside quotes is data, not a
 * record end, and message content may hold newlines) and keeps the min and max of one
 * column. Timestamps printed by PostgreSQL in one session format compare correctly as
 * strings ('…10:00:00+00' < '…10:00:00.5+00' since '+' < '.'), so no date parsing.
 */
const QUOTE = 0x22;
const COMMA = 0x2c;
const NEWLINE = 0x0a;

export interface CsvScanResult {
  readonly header: readonly string[];
  readonly records: number;
  readonly min: string | null;
  readonly max: string | null;
}

export class CsvScanner {
  readonly #column: string;
  #inQuotes = false;
  #field = 0;
  #record = 0;
  #target = -1;
  #capture: number[] = [];
  #headerFields: string[] = [];
  #min: string | null = null;
  #max: string | null = null;
  #pendingBytes = false;
  /** The previous byte closed a quoted section: a quote now is an escaped ("") one. */
  #justClosed = false;

  constructor(column: string) {
    this.#column = column;
  }

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      this.#pendingBytes = true;
      const afterClose = this.#justClosed;
      this.#justClosed = false;
      if (this.#inQuotes) {
        // A doubled quote ("") closes and reopens: the net state is right without lookahead.
        if (b === QUOTE) { this.#inQuotes = false; this.#justClosed = true; }
        else if (this.#capturing()) this.#capture.push(b);
      } else if (b === QUOTE) {
        // …and the reopening quote stands for one literal quote in the value.
        if (afterClose && this.#capturing()) this.#capture.push(QUOTE);
        this.#inQuotes = true;
      } else if (b === COMMA) {
        this.#endField();
      } else if (b === NEWLINE) {
        this.#endField();
        this.#endRecord();
      } else if (this.#capturing()) {
        this.#capture.push(b);
      }
    }
  }

  #capturing(): boolean {
    return this.#record === 0 || this.#field === this.#target;
  }

  #endField(): void {
    if (this.#capturing()) {
      const value = Buffer.from(this.#capture).toString('utf8');
      if (this.#record === 0) {
        this.#headerFields.push(value);
      } else if (value !== '') {
        if (this.#min === null || value < this.#min) this.#min = value;
        if (this.#max === null || value > this.#max) this.#max = value;
      }
      this.#capture = [];
    }
    this.#field++;
  }

  #endRecord(): void {
    if (this.#record === 0) this.#target = this.#headerFields.indexOf(this.#column);
    this.#record++;
    this.#field = 0;
    this.#pendingBytes = false;
  }

  /** Totals; a last record without a trailing newline still counts. */
  finish(): CsvScanResult {
    if (this.#pendingBytes && !this.#inQuotes) {
      this.#endField();
      this.#endRecord();
    }
    if (this.#inQuotes) throw new Error('CSV ends inside a quoted field (truncated archive?)');
    return { header: this.#headerFields, records: Math.max(0, this.#record - 1), min: this.#min, max: this.#max };
  }
}
