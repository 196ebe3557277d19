// Reading the site's data files: Arrow IPC made by the loaders (warehouse/dashboards.ts), decoded with
// apache-arrow from node_modules (not FileAttachment.arrow(), which would fetch Arrow from a CDN).
import {DataType, tableFromIPC} from "apache-arrow";

/**
 * The rows of an Arrow file as plain objects; dates and timestamps become Date. Pass the bytes:
 * `loadRows(FileAttachment("data/x.arrow").arrayBuffer())` (a bare FileAttachment of a .arrow file
 * makes Framework add apache-arrow from the CDN).
 */
export async function loadRows(bytes) {
  const table = tableFromIPC(new Uint8Array(await bytes));
  const columns = table.schema.fields.map((field) => ({
    name: field.name,
    vector: table.getChild(field.name),
    date: DataType.isDate(field.type) || DataType.isTimestamp(field.type)
  }));
  const rows = new Array(table.numRows);
  for (let i = 0; i < table.numRows; ++i) {
    const row = {};
    for (const {name, vector, date} of columns) {
      const value = vector.get(i);
      row[name] = value == null ? null : date ? new Date(value) : typeof value === "bigint" ? Number(value) : value;
    }
    rows[i] = row;
  }
  return rows;
}

/** Sum of `key` over rows. */
export function sum(rows, key) {
  let total = 0;
  for (const r of rows) total += r[key] ?? 0;
  return total;
}
