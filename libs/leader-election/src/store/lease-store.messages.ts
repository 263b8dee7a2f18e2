// User-facing texts of the lease store's configuration errors: each names what is wrong and the fix.

/** The lease table's `name` / `holder` compare case- or accent-insensitively (a table made by 0.1.0). */
export function leaseTableCollationMessage(table: string, upgradeSql: string): string {
  return (
    `The lease table \`${table}\` compares election names and holders without regard to case ` +
    `(a table created by version 0.1.0): 'jobs' and 'Jobs' would be one election. With createTable: false ` +
    `the module does not change the table itself; run once: ${upgradeSql} ` +
    `(or set createTable: true to have it migrated at start).`
  );
}

/** The lease table does not exist and the module was told not to create it. */
export function leaseTableMissingMessage(table: string): string {
  return (
    `The lease table \`${table}\` does not exist in this database. Create it with the SQL of ` +
    `createLeaseTableSql('${table}') (or createLeaseTableMigration()), or set createTable: true; ` +
    `check also the tableName option and the database in the connection URI.`
  );
}

/** The connection has no default database (1046). */
export function noDatabaseMessage(table: string): string {
  return (
    `No database selected for the lease table \`${table}\`: put the database in the connection URI ` +
    `(mysql://user:pass@host:3306/<database>) or set \`database\` in the connection options.`
  );
}

/** `createTable: true`, the table is missing, and the user may not create tables (1142). */
export function createTableDeniedMessage(table: string, ddl: string, serverMessage: string): string {
  return (
    `The lease table \`${table}\` does not exist and this user may not create it (${serverMessage}). ` +
    `Have it created once by a user with CREATE privilege: ${ddl} ` +
    `(then createTable: false is enough).`
  );
}

/** `createTable: true`, a 0.1.0 table must be migrated, and the user may not alter it (1142). */
export function upgradeTableDeniedMessage(table: string, upgradeSql: string, serverMessage: string): string {
  return (
    `The lease table \`${table}\` must be upgraded to compare names byte for byte, and this user may not ` +
    `alter it (${serverMessage}). Have a user with ALTER privilege run once: ${upgradeSql}`
  );
}

/** The lease table has no `fence_seq` column (created by an earlier version) and the module may not add it. */
export function fenceSeqMissingMessage(table: string, alterSql: string): string {
  return (
    `The lease table \`${table}\` has no fence_seq column (a table created by an earlier version); ` +
    `fenced writes on a Galera cluster bump it. With createTable: false the module does not change the ` +
    `table itself; run once: ${alterSql} (or set createTable: true to have it added at start).`
  );
}

/** The lease table has no `handover_to` column (created by an earlier version) and the module may not add it. */
export function handoverColumnMissingMessage(table: string, alterSql: string): string {
  return (
    `The lease table \`${table}\` has no handover_to column (a table created by an earlier version); ` +
    `handovers to a chosen candidate write it. With createTable: false the module does not change the ` +
    `table itself; run once: ${alterSql} (or set createTable: true to have it added at start).`
  );
}

/** `createTable: true`, `handover_to` must be added, and the user may not alter the table (1142). */
export function addHandoverColumnDeniedMessage(
  table: string,
  alterSql: string,
  serverMessage: string,
): string {
  return (
    `The lease table \`${table}\` needs a handover_to column and this user may not alter it ` +
    `(${serverMessage}). Have a user with ALTER privilege run once: ${alterSql}`
  );
}

/** `createTable: true`, `fence_seq` must be added, and the user may not alter the table (1142). */
export function addFenceSeqDeniedMessage(table: string, alterSql: string, serverMessage: string): string {
  return (
    `The lease table \`${table}\` needs a fence_seq column and this user may not alter it ` +
    `(${serverMessage}). Have a user with ALTER privilege run once: ${alterSql}`
  );
}
