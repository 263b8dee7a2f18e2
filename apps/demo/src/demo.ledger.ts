import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Kysely, MysqlDialect, sql, type Generated, type Transaction } from 'kysely';
import { createPool } from 'mysql2';
import { DEMO_CONFIG, type DemoConfig } from './demo.config';

/** One row of the ledger: which instance wrote it, under which term, when (database clock). */
export interface LedgerTable {
  id: Generated<number>;
  term: number;
  at: Date;
  instance: string;
}

/** The ledger's table name is configurable (`LEDGER_TABLE`), so the database type maps any name to it. */
export type LedgerDatabase = Record<string, LedgerTable>;

/**
 * The job's own table, `demo_ledger` by default, in the same database as the lease table: the leader
 * appends to it through `runFenced`, so its rows show in id (commit) order which term wrote them.
 * Its own small pool, apart from the library's lease pool; closed at shutdown, after leader-only work
 * drained.
 */
@Injectable()
export class DemoLedger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('DemoLedger');
  /** The Kysely the job hands to `runFenced`. */
  readonly db: Kysely<LedgerDatabase>;
  private created: Promise<void> | undefined;
  private creationFailed = false;

  constructor(@Inject(DEMO_CONFIG) private readonly config: DemoConfig) {
    this.db = new Kysely<LedgerDatabase>({
      dialect: new MysqlDialect({ pool: createPool({ uri: config.mysqlUrl, connectionLimit: 2 }) }),
    });
  }

  /** The ledger table's name. */
  get table(): string {
    return this.config.ledgerTable;
  }

  /** Creates the table at start. A database that does not answer yet is no reason not to start. */
  async onApplicationBootstrap(): Promise<void> {
    await this.ready().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.destroy();
  }

  /** The run-once job's table: one row per run of an occurrence, checked for duplicates by `npm run demo`. */
  get onceTable(): string {
    return this.config.onceTable;
  }

  /** Resolves once the tables exist; after a failure the next call tries again (logged once). */
  ready(): Promise<void> {
    this.created ??= sql`
      CREATE TABLE IF NOT EXISTS ${sql.table(this.table)} (
        id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        term     BIGINT UNSIGNED NOT NULL,
        at       DATETIME(6)     NOT NULL,
        instance VARCHAR(191)    NOT NULL
      ) ENGINE=InnoDB`
      .execute(this.db)
      .then(() =>
        // No unique key on (job, occurrence): a duplicate run must show as a second row, not as an error.
        sql`
          CREATE TABLE IF NOT EXISTS ${sql.table(this.onceTable)} (
            id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            job        VARCHAR(191)    NOT NULL,
            occurrence DATETIME(3)     NOT NULL,
            instance   VARCHAR(191)    NOT NULL,
            at         DATETIME(6)     NOT NULL
          ) ENGINE=InnoDB`.execute(this.db),
      )
      .then(
        () => {
          if (this.creationFailed) this.logger.log(`Ledger table ${this.table} is ready.`);
          this.creationFailed = false;
        },
        (error: unknown) => {
          this.created = undefined;
          if (!this.creationFailed) {
            this.logger.warn(
              `Ledger table ${this.table} could not be created (will retry): ${errorMessage(error)}`,
            );
          }
          this.creationFailed = true;
          throw error;
        },
      );
    return this.created;
  }

  /** Appends a row under `term` inside the fenced transaction `trx`; resolves the new row's id. */
  async append(trx: Transaction<LedgerDatabase>, term: number, instance: string): Promise<number> {
    const result = await trx
      .insertInto(this.table)
      // The database's clock, like every lease statement: rows of different hosts compare.
      .values({ term, instance, at: sql<Date>`UTC_TIMESTAMP(6)` })
      .executeTakeFirstOrThrow();
    return Number(result.insertId);
  }
}

/** Appends one run of the run-once job's occurrence (no transaction: the claim already fenced it). */
export async function appendOnce(
  ledger: DemoLedger,
  job: string,
  occurrence: Date,
  instance: string,
): Promise<void> {
  await sql`
    INSERT INTO ${sql.table(ledger.onceTable)} (job, occurrence, instance, at)
    VALUES (${job}, ${utc(occurrence)}, ${instance}, UTC_TIMESTAMP(6))`.execute(ledger.db);
}

/** `YYYY-MM-DD hh:mm:ss.mmm` in UTC: the driver would write a `Date` in the host's time zone. */
function utc(date: Date): string {
  return date.toISOString().slice(0, 23).replace('T', ' ');
}

/** An error's message (driver errors carry no credentials). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
