/**
 * The one error type of `activities/export/`: the input (a ZIP, a folder or loose JSON files) is
 * unusable as a Spotify privacy export. It is the user's data that is wrong, not the program, so a
 * retry cannot help: workflows should treat it as non-retryable (its `name` is `ExportInputError`,
 * which Temporal carries over as the failure type).
 *
 * Errors that are not about the input (the destination disk is full, a progress callback threw)
 * are passed through unchanged.
 */

/** Control characters in archive entry names are shown escaped, so a name cannot forge log lines. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export class ExportInputError extends Error {
  /** The input path (ZIP file, folder, or the loose JSON file concerned), absolute. */
  readonly input: string;
  /** Name of the archive entry or file concerned (as listed in the inventory), if the error is about one. */
  readonly entry: string | undefined;
  /** What is wrong, for humans (for example `not JSON`, `truncated or corrupt archive (...)`). */
  readonly reason: string;

  constructor(input: string, entry: string | undefined, reason: string, options?: { cause?: unknown }) {
    super(
      entry === undefined
        ? `${printable(input)}: ${printable(reason)}`
        : `${printable(input)}: ${printable(entry)}: ${printable(reason)}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'ExportInputError';
    this.input = input;
    this.entry = entry;
    this.reason = reason;
  }
}
